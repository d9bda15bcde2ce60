// IP and CIDR matching for AuthorizationPolicy `ipBlocks`, `remoteIpBlocks`, `source.ip`,
// `destination.ip`. Blocks are parsed once at compile time into byte prefixes; a request's
// address is parsed once per evaluation. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what
// Node reports on dual-stack sockets) compare as their IPv4 form.
import { isIPv4, isIPv6 } from 'node:net';

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

export interface CidrBlock {
  readonly bytes: IpBytes;
  readonly bits: number;
  readonly text: string;
}

/** Parse an address; undefined when it is not one. Zone ids (`fe80::1%eth0`) are dropped. */
export function parseIp(text: string): IpBytes | undefined {
  const fast = fastV4(text);
  if (fast) return fast;
  const addr = text.includes('%') ? text.slice(0, text.indexOf('%')) : text;
  if (isIPv4(addr)) return parseV4(addr);
  if (!isIPv6(addr)) return undefined;
  const v6 = parseV6(addr);
  // ::ffff:a.b.c.d → IPv4
  if (v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
  return v6;
}

/** Dotted-quad parser without regex or allocation beyond the result (the common case). */
function fastV4(text: string): IpBytes | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else if (c === 46 && digits > 0 && part < 3) {
      out[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  out[3] = value;
  return out;
}

function parseV4(addr: string): IpBytes {
  const out = new Uint8Array(4);
  const parts = addr.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

function parseV6(addr: string): IpBytes {
  const out = new Uint8Array(16);
  let text = addr;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  return out;
}

/** Parse `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128). Throws on bad input. */
export function parseCidr(text: string): CidrBlock {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addrText.trim());
  if (!bytes) throw new Error(`"${text}" is not an IP address or CIDR block`);
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const bitsText = text.slice(slash + 1);
    bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
    // An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) is expressed on the IPv4 bytes.
    if (bytes.length === 4 && addrText.includes(':')) bits -= 96;
    if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`"${text}" has an invalid prefix length`);
  }
  return { bytes, bits, text };
}

export function cidrContains(block: CidrBlock, ip: IpBytes): boolean {
  if (block.bytes.length !== ip.length) return false;
  const full = block.bits >> 3;
  for (let i = 0; i < full; i++) if (block.bytes[i] !== ip[i]) return false;
  const rem = block.bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (block.bytes[full]! & mask) === (ip[full]! & mask);
}

/** A compiled list of blocks: true when any contains the address. */
export function anyCidrContains(blocks: readonly CidrBlock[], ip: IpBytes | undefined): boolean {
  if (!ip) return false;
  for (const b of blocks) if (cidrContains(b, ip)) return true;
  return false;
}
