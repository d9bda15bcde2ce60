// IPv4 CIDR arithmetic for the local pod network.
import { AmbitError } from '../../core/errors.js';

export function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function ipv4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Ipv4Cidr {
  readonly text: string;
  readonly network: number;
  readonly broadcast: number;
  readonly prefix: number;
  parse(ip: string): number | undefined;
  contains(n: number): boolean;
}

export function ipv4Cidr(text: string): Ipv4Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const base = m ? ipv4ToNumber(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (base === undefined || !(prefix >= 8 && prefix <= 29)) {
    throw new AmbitError('AMBIT_E_CONFIG', `pod CIDR "${text}": expected an IPv4 network a.b.c.d/8..29`);
  }
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  return {
    text: `${ipv4ToString(network)}/${prefix}`,
    network,
    broadcast: network + size - 1,
    prefix,
    parse: ipv4ToNumber,
    contains: (n) => n > network && n < network + size - 1,
  };
}
