// Per-tunnel facts (who is calling, for which service port) attached to the tunnel stream
// so that the HTTP handler can read them from `req.socket`. For HTTP/2 `req.socket` is
// Node's proxy of the session socket, which forwards property reads: a symbol works there too.
export const TUNNEL_INFO = Symbol.for('ambit.waypoint.tunnel');

export interface TunnelInfo {
  /** SPIFFE id of the HBONE peer: the source workload's identity. */
  readonly peerIdentity: string;
  /** Original client from the `forwarded` header when verified (see source-identity.ts), else the peer address. */
  readonly clientIp: string;
  readonly clientPort: number;
  /** Namespace of the peer's SPIFFE id. */
  readonly sourceNamespace: string | undefined;
  /** CONNECT `:authority` (service VIP:port or endpoint ip:port). */
  readonly authority: string;
  readonly targetPort: number;
  /** Name of the virtual host the tunnel targets: the service every request on it is for. */
  readonly vhostName: string;
  /** A gateway chose `vhostName` from this request's Host already (no tunnel pins a service). */
  readonly hostSelected?: boolean;
  /** How the client reached the gateway (x-forwarded-proto); tunnels are `http`. */
  readonly scheme?: 'http' | 'https';
}

export function tunnelInfoOf(socket: object | null | undefined): TunnelInfo | undefined {
  return socket ? (socket as { [TUNNEL_INFO]?: TunnelInfo })[TUNNEL_INFO] : undefined;
}

export function attachTunnelInfo(stream: object, info: TunnelInfo): void {
  Object.defineProperty(stream, TUNNEL_INFO, { value: info, enumerable: false });
}

/** `for="10.244.0.5:41234"` → ip and port. */
export function parseForwarded(value: string | string[] | undefined): { ip: string; port: number } | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const m = text ? /for="?\[?([0-9a-fA-F.:]+?)\]?(?::(\d+))?"?(?:;|,|$)/.exec(text) : null;
  return m ? { ip: m[1]!, port: Number(m[2] ?? 0) } : undefined;
}
