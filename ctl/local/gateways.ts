// Istio ingress and egress gateways in `local up`: every networking.istio.io Gateway whose
// selector asks for `istio: ingressgateway` (or `egressgateway`) gets a gateway pod in the
// Gateway's namespace, `istio-ingressgateway` (`istio-egressgateway`), labelled as Istio's own
// gateway Deployments are and never captured (`mesh-mode: none`). It runs ambit-waypoint in
// that gateway mode like a waypoint pod (its own netns, identity, controller link, admin
// port), and the ingress gateway's first HTTP and HTTPS server ports are exposed on the
// host's 127.0.0.1:8080 and :8443 (plus the port offset) when those are free. Server
// certificates (`credentialName`) come from the folder `credentials/<name>/` next to the
// manifests, copied into the state dir's credential folder.
import { cp, readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createPodSocket } from '../../agent/inpod/sockets.js';
import type { KubeObject } from '../../controller/sources/types.js';
import type { Logger } from '../../core/log.js';
import { relay } from '../../core/net/relay.js';

export type GatewayMode = 'ingress-gateway' | 'egress-gateway';

/** Host ports of the ingress gateway (CONTRACT.md, Ports), before the port offset. */
export const INGRESS_HOST_PORTS = { http: 8080, https: 8443 } as const;

/** What `local up` knows of a gateway pod: its mode, and for ingress the server ports it exposes. */
export interface LocalGateway {
  readonly mode: GatewayMode;
  /** The first HTTP and HTTPS/TLS server port of the Gateways it serves. */
  readonly httpPort?: number;
  readonly httpsPort?: number;
}

export interface GatewayPodSource {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount: string;
  container: undefined;
  waypoint: { gateway: string; replica: number };
  gateway: LocalGateway;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});

function isIstioGateway(o: KubeObject): boolean {
  return o.kind === 'Gateway' && (o.apiVersion ?? '').startsWith('networking.istio.io/');
}

function modeOf(selector: Rec): GatewayMode | undefined {
  if (selector.istio === 'ingressgateway') return 'ingress-gateway';
  if (selector.istio === 'egressgateway') return 'egress-gateway';
  return undefined;
}

/** One gateway pod per namespace and mode that some Istio Gateway selects. */
export function gatewayPodSources(objects: readonly KubeObject[]): GatewayPodSource[] {
  const out = new Map<string, GatewayPodSource>();
  for (const o of objects) {
    if (!isIstioGateway(o)) continue;
    const selector = rec(rec(o.spec).selector);
    const mode = modeOf(selector);
    if (!mode) continue;
    const namespace = o.metadata.namespace ?? 'default';
    const name = mode === 'ingress-gateway' ? 'istio-ingressgateway' : 'istio-egressgateway';
    const key = `${namespace}/${name}`;
    const known = out.get(key);
    const labels = Object.fromEntries(Object.entries(selector).map(([k, v]) => [k, String(v)]));
    if (known) {
      Object.assign(known.labels, labels, { 'mesh-mode': 'none' });
      continue;
    }
    out.set(key, {
      namespace,
      name,
      labels: { app: name, ...labels, 'mesh-mode': 'none' },
      serviceAccount: name,
      container: undefined,
      waypoint: { gateway: name, replica: 0 },
      gateway: { mode, ...(mode === 'ingress-gateway' ? serverPorts(objects, namespace) : {}) },
    });
  }
  return [...out.values()];
}

/** The environment a gateway pod adds to a waypoint's: its labels (what Gateway selectors match). */
export function gatewayEnv(pod: { labels: Readonly<Record<string, string>> }): NodeJS.ProcessEnv {
  const labels = Object.entries(pod.labels)
    .filter(([k]) => k !== 'mesh-mode')
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return { AMBIT_GATEWAY_LABELS: labels };
}

/** The first server port of each kind the ingress Gateways of `namespace` declare. */
function serverPorts(objects: readonly KubeObject[], namespace: string): { httpPort?: number; httpsPort?: number } {
  const out: { httpPort?: number; httpsPort?: number } = {};
  for (const o of objects) {
    if (!isIstioGateway(o) || (o.metadata.namespace ?? 'default') !== namespace) continue;
    if (modeOf(rec(rec(o.spec).selector)) !== 'ingress-gateway') continue;
    for (const s of Array.isArray(rec(o.spec).servers) ? (rec(o.spec).servers as unknown[]) : []) {
      const port = rec(rec(s).port);
      const n = Number(port.number);
      const protocol = String(port.protocol ?? 'HTTP').toUpperCase();
      if (!Number.isInteger(n)) continue;
      if ((protocol === 'HTTP' || protocol === 'HTTP2') && out.httpPort === undefined) out.httpPort = n;
      if ((protocol === 'HTTPS' || protocol === 'TLS') && out.httpsPort === undefined) out.httpsPort = n;
    }
  }
  return out;
}

/** Copies the manifests' `credentials/<name>/` folders into local up's credential folder. */
export async function copyManifestCredentials(dir: string, credentialsDir: string, log: Logger): Promise<void> {
  const from = path.join(dir, 'credentials');
  const names = await readdir(from).catch(() => [] as string[]);
  for (const name of names) {
    await cp(path.join(from, name), path.join(credentialsDir, name), { recursive: true, force: true });
    log.info('gateway credential published', { credential: name });
  }
}

export interface ExposedPort {
  readonly hostPort: number;
  close(): Promise<void>;
}

/**
 * 127.0.0.1:`hostPort` on the host → `podPort` inside the gateway's netns (a socket made
 * there, to its 127.0.0.1, which the gateway's `::` listeners take). Undefined when the
 * host port is taken (logged): the mesh still comes up.
 */
export async function exposeGatewayPort(o: {
  netnsName: string;
  hostPort: number;
  podPort: number;
  log: Logger;
}): Promise<ExposedPort | undefined> {
  const nsPath = `/var/run/netns/${o.netnsName}`;
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    const up = createPodSocket(nsPath).connect(o.podPort, '127.0.0.1');
    open.add(up);
    up.once('close', () => open.delete(up));
    void relay(client, up);
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      o.log.warn('gateway host port not available', { port: o.hostPort, err: err.code ?? err.message });
      resolve(false);
    });
    server.listen(o.hostPort, '127.0.0.1', () => resolve(true));
  });
  if (!listening) return undefined;
  return {
    hostPort: o.hostPort,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The ingress gateway pod's HTTP and HTTPS server ports on the host's 8080 / 8443 (+ offset). */
export async function exposeIngressPorts(
  pod: { gateway?: LocalGateway; namespace: string; name: string },
  netnsName: string,
  portOffset: number,
  log: Logger,
): Promise<ExposedPort[]> {
  const g = pod.gateway;
  if (g?.mode !== 'ingress-gateway') return [];
  const out: ExposedPort[] = [];
  for (const [podPort, hostPort] of [
    [g.httpPort, INGRESS_HOST_PORTS.http + portOffset],
    [g.httpsPort, INGRESS_HOST_PORTS.https + portOffset],
  ] as const) {
    if (podPort === undefined) continue;
    const exposed = await exposeGatewayPort({ netnsName, hostPort, podPort, log });
    if (!exposed) continue;
    out.push(exposed);
    log.info('ingress gateway exposed', {
      gateway: `${pod.namespace}/${pod.name}`,
      url: `127.0.0.1:${hostPort}`,
      podPort,
    });
  }
  return out;
}

/** The host ports `local up` exposes for the ingress gateways of a plan (rootless mode forwards them too). */
export function ingressHostPorts(pods: ReadonlyArray<{ gateway?: LocalGateway }>, portOffset: number): number[] {
  const out = new Set<number>();
  for (const p of pods) {
    if (p.gateway?.mode !== 'ingress-gateway') continue;
    if (p.gateway.httpPort !== undefined) out.add(INGRESS_HOST_PORTS.http + portOffset);
    if (p.gateway.httpsPort !== undefined) out.add(INGRESS_HOST_PORTS.https + portOffset);
  }
  return [...out];
}
