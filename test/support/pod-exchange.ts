// One short connection from inside a pod's netns, opened like an app's (no mark, so the pod's
// capture rules apply): send, half-close, collect what comes back. Needs root.
import { createPodSocket } from '../../agent/inpod/sockets.js';

export interface Exchange {
  echoed: string;
  /** The socket error's code (e.g. ECONNRESET), or 'timeout'. */
  error?: string;
}

/**
 * Resolves at the first of: the socket's close, its error, or `timeoutMs` (when given; without
 * it a connection that never ends is left to the test's own timeout).
 */
export function podExchange(
  netnsPath: string,
  ip: string,
  port: number,
  payload: string,
  opts: { timeoutMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const sock = createPodSocket(netnsPath, { family: ip.includes(':') ? 6 : 4 });
    let echoed = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (r: Exchange): void => {
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    if (opts.timeoutMs !== undefined)
      timer = setTimeout(() => {
        sock.destroy();
        done({ echoed, error: 'timeout' });
      }, opts.timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      echoed += d;
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done({ echoed, error: err.code ?? err.message }));
    sock.on('close', () => done({ echoed }));
    sock.connect(port, ip);
    sock.on('connect', () => sock.end(payload));
  });
}
