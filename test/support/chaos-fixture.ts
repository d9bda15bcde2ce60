// The chaos suite's manifests: the coffee-shop (examples/coffee-shop) plus
//   - the pod `chaos-client` the load runs in (its own identity, enrolled);
//   - the Service `customer-l4`: customer-service's pods without the waypoint
//     (`istio.io/use-waypoint: none`), the load's L4 path;
//   - the pod `ip-reuse-old` (a customer-service replica), whose IP the pod churn event hands
//     to `ip-reuse-new`, a different service under a different identity;
//   - two replicas of the namespace's waypoint behind one address (the rollout event).
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { WAYPOINT_REPLICAS_ANNOTATION } from '../../ctl/local/plan.js';
import type { KubeObject } from '../../controller/sources/types.js';

export const NAMESPACE = 'coffee-shop';
export const CLIENT_POD = 'chaos-client';
export const L4_SERVICE = 'customer-l4';
export const REUSE_OLD = 'ip-reuse-old';
export const REUSE_NEW = 'ip-reuse-new';

const serviceAccount = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: NAMESPACE },
});

/** A Pod running the coffee-shop's service.mjs as `service`. */
export function servicePod(
  name: string,
  service: string,
  labels: Record<string, string>,
  sa: string,
  ip?: string,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE, labels },
    spec: {
      serviceAccountName: sa,
      containers: [
        {
          name: 'app',
          image: 'local',
          command: ['node', 'service.mjs'],
          env: [
            { name: 'SERVICE_NAME', value: service },
            { name: 'SERVICE_VERSION', value: labels.version ?? 'v1' },
            { name: 'PORT', value: '8080' },
          ],
        },
      ],
    },
    ...(ip ? { status: { podIP: ip } } : {}),
  };
}

export function chaosObjects(): KubeObject[] {
  return [
    serviceAccount(CLIENT_POD),
    servicePod(CLIENT_POD, CLIENT_POD, { app: CLIENT_POD }, CLIENT_POD),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: L4_SERVICE,
        namespace: NAMESPACE,
        labels: { app: 'customer-service', 'istio.io/use-waypoint': 'none' },
      },
      spec: {
        selector: { app: 'customer-service' },
        ports: [{ name: 'http', port: 8080, targetPort: 8080, appProtocol: 'http' }],
      },
    },
    servicePod(REUSE_OLD, 'customer-service', { app: 'customer-service', version: 'v1' }, 'customer-service'),
  ];
}

/** Copies the coffee-shop into `dir` and adds the chaos objects; returns `dir`. */
export async function writeChaosFixture(repo: string, dir: string): Promise<string> {
  const src = path.join(repo, 'examples', 'coffee-shop');
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(src))
    if (/\.(ya?ml|mjs)$/.test(f)) await copyFile(path.join(src, f), path.join(dir, f));
  await writeFile(
    path.join(dir, 'chaos.yaml'),
    chaosObjects()
      .map((o) => stringify(o))
      .join('---\n'),
  );
  const gwFile = path.join(dir, 'waypoint-coffee-shop-waypoint.yaml');
  const gw = parse(await readFile(gwFile, 'utf8')) as KubeObject;
  const replicated = {
    ...gw,
    metadata: { ...gw.metadata, annotations: { ...gw.metadata.annotations, [WAYPOINT_REPLICAS_ANNOTATION]: '2' } },
  };
  await writeFile(gwFile, stringify(replicated));
  return dir;
}
