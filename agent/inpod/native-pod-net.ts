// PodNet through the netns addon: sockets made inside each pod's namespace, marked so the
// pod's iptables rules do not capture them again, IP_TRANSPARENT for the app hop.
import net from 'node:net';
import { AmbitError, describeError } from '../../core/errors.js';
import type { PodNet } from '../proxy/pod-net.js';
import { AGENT_MARK, createPodSocket, originalDst, type PodSocketOptions } from './sockets.js';

/** Connect from inside `netnsPath` (marked, so the pod's rules do not capture it again). */
export function dialFromPod(
  netnsPath: string,
  ip: string,
  port: number,
  opts: PodSocketOptions = {},
  timeoutMs = 10_000,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    try {
      sock = createPodSocket(netnsPath, { mark: AGENT_MARK, family: net.isIP(ip) === 6 ? 6 : 4, ...opts });
      sock.connect(port, ip);
    } catch (err) {
      reject(err);
      return;
    }
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new AmbitError('AMBIT_E_TIMEOUT', `connect to ${ip}:${port} from ${netnsPath} timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeListener('error', onError);
      sock.setNoDelay(true);
      resolve(sock);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(
        new AmbitError('AMBIT_E_UPSTREAM', `connect to ${ip}:${port} failed: ${describeError(err)}`, { cause: err }),
      );
    };
    sock.once('error', onError);
  });
}

export const nativePodNet: PodNet = {
  originalDst,
  dial: (netnsPath, ip, port) => dialFromPod(netnsPath, ip, port),
  dialApp: (netnsPath, ip, port, sourceIp) => dialFromPod(netnsPath, ip, port, { transparent: true, bindIp: sourceIp }),
  podSocket: (netnsPath, family) => createPodSocket(netnsPath, { mark: AGENT_MARK, family }),
};
