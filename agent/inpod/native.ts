// Loads the netns addon (agent/native, built by node-gyp at install). Everything native goes
// through here, so a missing build is reported once, clearly, instead of as a stack trace.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AmbitError } from '../../core/errors.js';

export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The addon's functions (agent/native/src/netns.cc). All throw Errors with `code` = errno name. */
export interface NetnsAddon {
  /** A TCP (default) or UDP socket (SOCK_NONBLOCK|SOCK_CLOEXEC) created inside the namespace at `netnsPath`. */
  socketInNetns(netnsPath: string, family: 4 | 6, type?: 'tcp' | 'udp'): number;
  /** Close the cached namespace fd; true when one was open. */
  closeNetns(netnsPath: string): boolean;
  cachedNetnsCount(): number;
  /** An AF_INET6 socket is made IPv6-only (IPv4 has its own sockets). */
  bindTo(fd: number, ip: string, port: number, reuseAddr?: boolean, reusePort?: boolean): void;
  /** Write /proc/sys/<key> (a `net/...` key) as seen from inside the namespace. */
  setNetnsSysctl(netnsPath: string, key: string, value: string): void;
  /** undefined: the connection was not redirected (no NAT conntrack entry). */
  getOriginalDst(fd: number): OriginalDst | undefined;
  setMark(fd: number, mark: number): void;
  setTransparent(fd: number): void;
  /** Close an fd that never reached a net.Socket. */
  closeFd(fd: number): void;
}

const ADDON_FILE = 'ambit_netns.node';
let cached: { addon: NetnsAddon } | { error: AmbitError } | undefined;

function candidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromEnv = process.env.AMBIT_NATIVE_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    // source tree: agent/inpod → agent/native
    path.resolve(here, '../native/build/Release', ADDON_FILE),
    // compiled: dist/agent/inpod → agent/native
    path.resolve(here, '../../../agent/native/build/Release', ADDON_FILE),
  ];
}

function load(): { addon: NetnsAddon } | { error: AmbitError } {
  if (process.platform !== 'linux') {
    return { error: new AmbitError('AMBIT_E_NETNS', `in-pod capture needs Linux (this is ${process.platform})`) };
  }
  const tried = candidates();
  const file = tried.find((p) => existsSync(p));
  if (!file) {
    return {
      error: new AmbitError('AMBIT_E_NETNS', `the netns addon is not built (looked for ${tried.join(', ')})`, {
        hint: 'build it with `node scripts/build-native.mjs` (needs g++, make, python3 and Node headers), or set AMBIT_NATIVE_ADDON',
      }),
    };
  }
  try {
    const require = createRequire(import.meta.url);
    return { addon: require(file) as NetnsAddon };
  } catch (err) {
    return {
      error: new AmbitError('AMBIT_E_NETNS', `the netns addon at ${file} did not load: ${(err as Error).message}`, {
        hint: 'rebuild it for this Node version with `node scripts/build-native.mjs`',
        cause: err,
      }),
    };
  }
}

/** The addon, or throws AmbitError('AMBIT_E_NETNS') saying why it is unavailable. */
export function netnsAddon(): NetnsAddon {
  cached ??= load();
  if ('error' in cached) throw cached.error;
  return cached.addon;
}

/** Whether the addon can be used here (tests and the agent's startup check). */
export function netnsAddonStatus(): { ok: true } | { ok: false; reason: string } {
  cached ??= load();
  return 'error' in cached ? { ok: false, reason: cached.error.message } : { ok: true };
}
