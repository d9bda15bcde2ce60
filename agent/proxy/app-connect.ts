// The last hop to the app, inside the destination pod's netns. Marked so the pod's inbound
// rules do not capture it; IP_TRANSPARENT and bound to the client's IP so the app sees the
// real client. The CNI plugin's rules (mark → connmark → `ip rule` to table 100, local
// route) bring the app's replies back to this socket. If transparent binding is refused
// (no CAP_NET_ADMIN, address family mismatch) the connection still goes, from the pod's IP.
import type net from 'node:net';
import { isIP } from 'node:net';
import { describeError } from '../../core/errors.js';
import type { PodContext, ProxyContext } from './context.js';

const warned = new Set<string>();

export async function connectToApp(
  ctx: ProxyContext,
  pod: PodContext,
  clientIp: string,
  ip: string,
  port: number,
): Promise<net.Socket> {
  const netns = pod.pod.netnsPath;
  if (isIP(clientIp) === isIP(ip)) {
    try {
      return await ctx.net.dialApp(netns, ip, port, clientIp);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A refused/unreachable app is final; only binding problems fall back.
      if (code === 'AMBIT_E_UPSTREAM' || code === 'AMBIT_E_TIMEOUT') throw err;
      if (!warned.has(netns)) {
        warned.add(netns);
        ctx.log.warn('source IP preservation unavailable; connecting from the pod address', {
          pod: `${pod.pod.namespace}/${pod.pod.name}`,
          err: describeError(err),
        });
      }
    }
  }
  return ctx.net.dial(netns, ip, port);
}
