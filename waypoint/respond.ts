// The one place where failures become HTTP answers: status, body, and the Envoy-style
// response flag that metrics (`response_flags`) and access logs carry.
import { AmbitError, type AmbitErrorCode } from '../core/errors.js';

/** Envoy response flags Ambit reports (same letters, so dashboards read them). */
export type ResponseFlag =
  | '-' // none
  | 'NR' // no route
  | 'UH' // no healthy upstream
  | 'UO' // upstream overflow (circuit breaker)
  | 'UF' // upstream connection failure
  | 'UC' // upstream connection termination
  | 'UPE' // upstream protocol error (a malformed response)
  | 'UT' // upstream request timeout
  | 'URX' // retry limit exceeded
  | 'FI' // fault injected (abort)
  | 'DI' // delay injected
  | 'UAEX' // external authorization denied
  | 'DC'; // downstream connection termination

export interface LocalReply {
  readonly status: number;
  readonly body: string;
  readonly flag: ResponseFlag;
  readonly headers?: Readonly<Record<string, string>>;
}

export function localReply(
  status: number,
  body: string,
  flag: ResponseFlag = '-',
  headers?: Record<string, string>,
): LocalReply {
  return headers ? { status, body, flag, headers } : { status, body, flag };
}

export const replies = {
  noRoute: (): LocalReply => localReply(404, 'route not found', 'NR'),
  rbacDenied: (): LocalReply => localReply(403, 'RBAC: access denied'),
  extAuthzDenied: (status = 403): LocalReply => localReply(status, 'denied by external authorization', 'UAEX'),
  jwtInvalid: (why: string): LocalReply =>
    localReply(401, `Jwt verification fails: ${why}`, '-', {
      'www-authenticate': 'Bearer realm="ambit", error="invalid_token"',
    }),
  timeout: (): LocalReply => localReply(504, 'upstream request timeout', 'UT'),
  noHealthyUpstream: (): LocalReply => localReply(503, 'no healthy upstream', 'UH'),
  overflow: (): LocalReply =>
    localReply(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', 'UO'),
  connectFailure: (detail: string): LocalReply =>
    localReply(
      503,
      `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${detail}`,
      'UF',
    ),
  upstreamReset: (): LocalReply =>
    localReply(
      503,
      'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
      'UC',
    ),
  upstreamProtocolError: (): LocalReply =>
    localReply(503, 'upstream connect error or disconnect/reset before headers. reset reason: protocol error', 'UPE'),
  faultAbort: (status: number): LocalReply => localReply(status, 'fault filter abort', 'FI'),
  badRequest: (why: string): LocalReply => localReply(400, why),
  headersTooLarge: (): LocalReply => localReply(431, 'request header fields too large'),
};

const BY_CODE: Partial<Record<AmbitErrorCode, (e: AmbitError) => LocalReply>> = {
  AMBIT_E_TIMEOUT: () => replies.timeout(),
  AMBIT_E_HBONE_CONNECT: (e) => replies.connectFailure(e.message),
  AMBIT_E_TLS_PEER: (e) => replies.connectFailure(e.message),
  AMBIT_E_HBONE_STATUS: (e) => replies.connectFailure(e.message),
  AMBIT_E_HBONE_RESET: () => replies.upstreamReset(),
  AMBIT_E_AUTHZ_DENIED: () => replies.rbacDenied(),
};

/** Maps anything thrown on the request path to the answer the client gets. */
export function replyForError(err: unknown): LocalReply {
  if (err instanceof AmbitError) {
    const map = BY_CODE[err.code];
    if (map) return map(err);
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return replies.connectFailure(code);
  if (code === 'AMBIT_E_UPSTREAM_HTTP1') return replies.upstreamProtocolError();
  if (code === 'ECONNRESET' || code === 'ERR_HTTP2_STREAM_ERROR' || code === 'EPIPE') return replies.upstreamReset();
  return localReply(500, 'internal error');
}
