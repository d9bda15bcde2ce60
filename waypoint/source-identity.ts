// Who is calling, from what can be trusted: the principal and its namespace come only from
// the HBONE peer certificate (SPIFFE id). The `forwarded` header the caller's agent adds may
// name the original client address, but the waypoint believes it only when that address
// belongs to a workload whose identity is the peer's: a holder of any mesh certificate must
// not be able to claim another workload's IP (ipBlocks), namespace or labels (sourceLabels).
import { namespaceOfPrincipal, stripSpiffe } from '../core/authz/request-view.js';
import type { Workload } from '../core/model/types.js';
import { parseForwarded } from './tunnel-info.js';

/** Why a `forwarded` address was not believed (a metric label: keep the set small). */
export type ForwardedRejection = 'unknown_address' | 'identity_mismatch' | 'malformed';

export interface TunnelSource {
  readonly ip: string;
  readonly port: number;
  /** Namespace of the peer's SPIFFE id; undefined when the id has none. */
  readonly namespace: string | undefined;
  /** Set when `forwarded` was present but not believed. */
  readonly forwardedRejected?: ForwardedRejection;
}

export function sameIdentity(a: string, b: string): boolean {
  return stripSpiffe(a) === stripSpiffe(b);
}

/** The workload at `ip`, when its identity is the peer's (else undefined: labels are not the peer's). */
export function verifiedWorkload(
  workloadsByIp: ReadonlyMap<string, Workload>,
  ip: string,
  peerIdentity: string,
): Workload | undefined {
  const w = workloadsByIp.get(ip);
  return w && sameIdentity(w.identity, peerIdentity) ? w : undefined;
}

export function tunnelSource(input: {
  readonly peerIdentity: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly forwarded: string | string[] | undefined;
  readonly workloadsByIp: ReadonlyMap<string, Workload>;
}): TunnelSource {
  const namespace = namespaceOfPrincipal(stripSpiffe(input.peerIdentity));
  // A dual-stack (::) listener reports IPv4 peers as ::ffff:a.b.c.d: the workload has the IPv4 form.
  const remote =
    input.remoteAddress.startsWith('::ffff:') && input.remoteAddress.includes('.')
      ? input.remoteAddress.slice(7)
      : input.remoteAddress;
  const direct: TunnelSource = { ip: remote, port: input.remotePort, namespace };
  if (input.forwarded === undefined) return direct;
  const fwd = parseForwarded(input.forwarded);
  if (!fwd) return { ...direct, forwardedRejected: 'malformed' };
  const w = input.workloadsByIp.get(fwd.ip);
  if (!w) return { ...direct, forwardedRejected: 'unknown_address' };
  if (!sameIdentity(w.identity, input.peerIdentity)) return { ...direct, forwardedRejected: 'identity_mismatch' };
  return { ip: fwd.ip, port: fwd.port, namespace };
}
