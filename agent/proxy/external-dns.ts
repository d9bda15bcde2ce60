// Names of ServiceEntry endpoints with resolution DNS (or DNS_ROUND_ROBIN): the agent dials
// IP literals only (a socket made in a pod's netns must not resolve there), so it resolves
// the name itself with the node's resolver, keeps the answer a few seconds, and rotates over
// the addresses it got for each new connection.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AmbitError } from '../../core/errors.js';

export type ResolveHost = (host: string) => Promise<readonly string[]>;

/** The node's resolver (getaddrinfo, so /etc/hosts counts), answers kept for `ttlMs`. */
export function cachingResolver(ttlMs = 5000, now: () => number = Date.now): ResolveHost {
  const cache = new Map<string, { at: number; addresses: Promise<readonly string[]> }>();
  return (host) => {
    const hit = cache.get(host);
    if (hit && now() - hit.at < ttlMs) return hit.addresses;
    const addresses = lookup(host, { all: true }).then((list) => list.map((a) => a.address));
    cache.set(host, { at: now(), addresses });
    addresses.catch(() => cache.delete(host));
    return addresses;
  };
}

const rotation = new Map<string, number>();

/** An IP literal for `address`: itself, or one of its DNS addresses in turn. */
export async function dialAddress(address: string, resolve: ResolveHost): Promise<string> {
  if (isIP(address)) return address;
  let addresses: readonly string[];
  try {
    addresses = await resolve(address);
  } catch (err) {
    throw new AmbitError('AMBIT_E_UPSTREAM', `cannot resolve ${address}: ${(err as Error).message}`, {
      hint: 'the ServiceEntry host (resolution DNS) must resolve on the node',
    });
  }
  const usable = addresses.filter((a) => isIP(a));
  if (usable.length === 0) throw new AmbitError('AMBIT_E_UPSTREAM', `${address} resolved to no address`);
  const n = rotation.get(address) ?? 0;
  rotation.set(address, (n + 1) % usable.length);
  return usable[n % usable.length]!;
}
