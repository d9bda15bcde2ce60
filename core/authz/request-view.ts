// The request as the matchers see it: what the caller gave, normalised lazily and at most
// once per evaluation (principal without `spiffe://`, namespace derived from the principal,
// parsed IPs). One of these is built per `AuthzEngine.evaluate` call.
import { parseIp, type IpBytes } from './ip-match.js';

export interface AuthzRequest {
  source: {
    /** Peer identity: `spiffe://td/ns/x/sa/y` or Istio's `td/ns/x/sa/y`; absent for plaintext. */
    principal?: string;
    /**
     * Defaults to the `ns` segment of the principal. Set it only from an authenticated
     * identity (Istio derives it from the peer certificate), never from an IP lookup.
     */
    namespace?: string;
    /** Direct peer address (ipBlocks, source.ip). */
    ip: string;
    port?: number;
    /** Original client address (remoteIpBlocks, remote.ip); defaults to `ip`. */
    remoteIp?: string;
  };
  destination: { ip: string; port: number };
  http?: {
    method: string;
    path: string;
    host: string;
    /** Header names in lower case (as node:http/http2 deliver them). */
    headers: Readonly<Record<string, string | string[] | undefined>>;
    /** `iss/sub` of a validated JWT. */
    requestPrincipal?: string;
    /** Claims of the validated JWT. */
    claims?: Readonly<Record<string, unknown>>;
  };
}

const UNSET = Symbol('unset');
type Lazy<T> = T | typeof UNSET;

export function stripSpiffe(principal: string): string {
  return principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
}

export function namespaceOfPrincipal(principal: string): string | undefined {
  const m = /(?:^|\/)ns\/([^/]+)\/sa\//.exec(principal);
  return m ? m[1] : undefined;
}

export class RequestView {
  private principalV: Lazy<string | undefined> = UNSET;
  private namespaceV: Lazy<string | undefined> = UNSET;
  private sourceIpV: Lazy<IpBytes | undefined> = UNSET;
  private remoteIpV: Lazy<IpBytes | undefined> = UNSET;
  private destinationIpV: Lazy<IpBytes | undefined> = UNSET;

  constructor(readonly req: AuthzRequest) {}

  get principal(): string | undefined {
    if (this.principalV === UNSET) {
      const p = this.req.source.principal;
      this.principalV = p ? stripSpiffe(p) : undefined;
    }
    return this.principalV;
  }

  get namespace(): string | undefined {
    if (this.namespaceV === UNSET) {
      const p = this.principal;
      this.namespaceV = this.req.source.namespace ?? (p ? namespaceOfPrincipal(p) : undefined);
    }
    return this.namespaceV;
  }

  get sourceIp(): IpBytes | undefined {
    if (this.sourceIpV === UNSET) this.sourceIpV = parseIp(this.req.source.ip);
    return this.sourceIpV;
  }

  get remoteIp(): IpBytes | undefined {
    if (this.remoteIpV === UNSET) {
      const r = this.req.source.remoteIp;
      this.remoteIpV = r === undefined ? this.sourceIp : parseIp(r);
    }
    return this.remoteIpV;
  }

  get destinationIp(): IpBytes | undefined {
    if (this.destinationIpV === UNSET) this.destinationIpV = parseIp(this.req.destination.ip);
    return this.destinationIpV;
  }

  header(name: string): string | readonly string[] | undefined {
    return this.req.http?.headers[name];
  }

  /** A JWT claim by path (`['a','b']` for `[a][b]`): strings, or lists of strings. */
  claim(path: readonly string[]): string | readonly string[] | undefined {
    let cur: unknown = this.req.http?.claims;
    for (const seg of path) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[seg];
    }
    if (typeof cur === 'string') return cur;
    if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
    if (Array.isArray(cur)) return cur.filter((v): v is string => typeof v === 'string');
    return undefined;
  }
}
