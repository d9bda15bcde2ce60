// What the proxy handlers need from the pods' network namespaces, as one injected object:
// the production one (agent/inpod/native-pod-net.ts) goes through the netns addon; a loopback
// one (./loopback-pod-net.ts) lets the handlers run in unit tests without root.
import type { Socket } from 'node:net';

export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface PodNet {
  /**
   * Where a redirected connection accepted on a pod's listener was addressed; undefined when it
   * was not redirected (made to the listener directly). Throws when the socket is already gone.
   */
  originalDst(socket: Socket): OriginalDst | undefined;
  /** Connect from inside the pod's netns to an IP literal, marked so the pod's rules let it out. */
  dial(netnsPath: string, ip: string, port: number): Promise<Socket>;
  /**
   * Connect to the app inside the pod's netns from `sourceIp` (the client's address, so the app
   * sees the real client). Rejects with AMBIT_E_UPSTREAM / AMBIT_E_TIMEOUT when the app refuses
   * or does not answer, with another error when the source address cannot be used.
   */
  dialApp(netnsPath: string, ip: string, port: number, sourceIp: string): Promise<Socket>;
  /**
   * An unconnected socket inside the pod's netns for the HBONE pool, which calls
   * connect(port, ip) on it in the same tick.
   */
  podSocket(netnsPath: string, family: 4 | 6): Socket;
}
