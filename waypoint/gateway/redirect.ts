// Istio's `tls.httpsRedirect` on an HTTP server: a request for one of the server's hosts is
// answered 301 with the same host and path on https (the client's port is dropped, so the
// default HTTPS port is used, as Envoy's https_redirect does).
import type { GatewayServer } from '../../core/model/l7.js';
import { serverAdmitsName } from './gateway-config.js';

/** The Location to send, or undefined when no server of the port asks to redirect this host. */
export function httpsRedirectFor(servers: readonly GatewayServer[], hostname: string, url: string): string | undefined {
  const server = servers.find((s) => s.tls?.httpsRedirect === true && serverAdmitsName(s, hostname));
  if (!server || hostname === '') return undefined;
  const path = url.startsWith('/') ? url : `/${url}`;
  return `https://${hostname}${path}`;
}
