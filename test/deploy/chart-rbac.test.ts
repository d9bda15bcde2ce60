// The controller's RBAC, checked against what the controller really does: the real binary,
// started with the rendered container's settings, talks to the test API server enforcing
// the rendered Roles and ClusterRoles. Every call it makes must be granted (no 403), and
// every rendered grant must be used by the run or be listed below with the call that needs
// it. It starts before the API server exists: it must wait and retry, not exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WATCHED_KINDS } from '../../controller/sources/kube-kinds.js';
import { packageRoot } from '../../ctl/chart/tools.js';
import { FakeApiServer, type FakeObject } from '../support/fake-apiserver.js';
import { containerEnv, type Container } from './container-settings.js';
import { render, type K8sObject } from '../support/manifests.js';
import { freePort } from '../support/net.js';
import { pollUntil } from '../support/wait.js';

const NS = 'ambit-system';

/** Rendered grants not exercised by this run, and the call that needs each. */
const NOT_EXERCISED: Record<string, string> = {
  'get /pods': 'the CA looks up the pod a caller\'s token is bound to (its node)',
  'create authentication.k8s.io/tokenreviews': 'agents and waypoints authenticating to discovery and the CA',
  'update /services': 'the waypoint reconciler replacing a Service whose template changed',
  'update /serviceaccounts': 'the waypoint reconciler replacing a ServiceAccount whose template changed',
  'update apps/deployments': 'the waypoint reconciler replacing a Deployment whose template changed',
  'update /configmaps ambit-ca-root-cert': 'a published CA root that differs (the CA was replaced)',
};

interface Attributes { verb: string; group: string; resource: string; subresource?: string; namespace?: string; name?: string }
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

const until = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000): Promise<T> =>
  pollUntil(fn, { what, timeoutMs, intervalMs: 100 });

describe('controller RBAC: exactly the API calls the controller makes', () => {
  let api: FakeApiServer | undefined;
  let child: ChildProcess | undefined;
  let proxy: Server | undefined;
  let dir: string;
  let objects: K8sObject[];
  const calls: Attributes[] = [];
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    objects = await render('default');
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-chart-rbac-'));
    const port = await freePort();
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ambit-controller')!;
    const pod = (deployment.spec as { template: { spec: { serviceAccountName: string; containers: Container[] } } }).template.spec;
    const container = pod.containers[0]!;
    const env = containerEnv(container, { namespace: NS, serviceAccount: pod.serviceAccountName });
    api = await FakeApiServer.start({ rbac: true });
    api.serveStandard();
    // Every kind the controller watches is served, the custom resources too.
    for (const k of WATCHED_KINDS) {
      if (!api.serves(k.kind, k.group)) api.serve({ group: k.group, versions: [k.versions[0]!], plural: k.plural, kind: k.kind, namespaced: k.kind !== 'Namespace' && k.kind !== 'Node' });
    }
    const authorize = api.authorize.bind(api);
    api.authorize = (user, a) => {
      if (user.username === `system:serviceaccount:${NS}:ambit-controller`) calls.push({ ...a });
      return authorize(user, a);
    };
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    for (const o of objects) {
      if (['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap'].includes(o.kind)) api.create(o as FakeObject);
    }
    // The controller reaches the API server through a port that answers only later.
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      'clusters:', '- name: c', '  cluster:', `    server: http://127.0.0.1:${port}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: u', '  user:', `    token: ${api.mintToken({ namespace: NS, serviceAccount: 'ambit-controller' })}`,
      'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u', '',
    ].join('\n'));
    child = spawn(process.execPath, [
      path.join(packageRoot(), 'dist', 'controller', 'main.js'), ...(container.args ?? []),
      '--host', '127.0.0.1', '--grpc-port', '0', '--metrics-port', '0', '--ready-port', '0',
    ], { env: { PATH: process.env.PATH, ...env, AMBIT_STATE_DIR: path.join(dir, 'state'), KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });

    // No API server yet: the controller waits and says so.
    await until('a retry log line', () => /cannot load the CA from the API server; retrying.*ECONNREFUSED/.test(stderr));
    expect(child.exitCode).toBeNull();
    const apiPort = api.port;
    proxy = createServer((c) => {
      const upstream = connect(apiPort, '127.0.0.1');
      c.pipe(upstream).pipe(c);
      c.on('error', () => upstream.destroy());
      upstream.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', resolve));
    await until('the controller\'s ready line', () => /^ready \{/m.test(stdout), 30_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; controller log:\n${stderr.slice(-3000)}`);
    });

    // A waypoint for namespace shop, then gone again: the reconciler's writes.
    api.create({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'shop', uid: 'gw-1' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    await until('the waypoint Deployment', () => api!.getObject('Deployment', 'waypoint', 'shop', 'apps'));
    await until('the CA root in shop', () => api!.getObject('ConfigMap', 'ambit-ca-root-cert', 'shop'));
    // Gateway API routes on a Service of that waypoint: the controller writes their status.
    api.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'shop', labels: { 'istio.io/use-waypoint': 'waypoint' } },
      spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] },
    });
    for (const kind of ['HTTPRoute', 'GRPCRoute']) {
      api.create({
        apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: { name: 'reviews', namespace: 'shop' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
      });
    }
    const accepted = (kind: string): boolean => {
      const parents = (api!.getObject(kind, 'reviews', 'shop', 'gateway.networking.k8s.io') as { status?: { parents?: Array<{ conditions: Array<{ type: string; status: string }> }> } })?.status?.parents ?? [];
      return parents[0]?.conditions.some((c) => c.type === 'Accepted' && c.status === 'True') ?? false;
    };
    await until('the routes\' status', () => accepted('HTTPRoute') && accepted('GRPCRoute'));
    await until('the waypoint Gateway\'s status', () => (api!.getObject('Gateway', 'waypoint', 'shop', 'gateway.networking.k8s.io') as { status?: { conditions?: unknown[] } })?.status?.conditions?.length);
    // The leader election: the Lease created, then renewed by its holder.
    const lease = (): { acquireTime?: string; renewTime?: string } | undefined =>
      (api!.getObject('Lease', 'ambit-controller', NS, 'coordination.k8s.io') as { spec?: { acquireTime?: string; renewTime?: string } })?.spec;
    await until('the leader lease renewed', () => lease() && lease()!.renewTime !== lease()!.acquireTime);
    api.delete('Gateway', 'waypoint', 'shop', 'gateway.networking.k8s.io');
    await until('the waypoint objects to go', () => !api!.getObject('Deployment', 'waypoint', 'shop', 'apps')
      && !api!.getObject('Service', 'waypoint', 'shop') && !api!.getObject('ServiceAccount', 'waypoint', 'shop'));
  }, 90_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    proxy?.close();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the CA root for agents in its namespace, from the Secret it created', () => {
    const cm = api!.getObject('ConfigMap', 'ambit-ca-root-cert', NS) as FakeObject & { data: Record<string, string> };
    expect(cm.data['root-cert.pem']).toMatch(/BEGIN CERTIFICATE/);
    expect(api!.getObject('Secret', 'ambit-ca', NS)).toBeDefined();
  });

  it('is refused nothing', () => {
    expect(api!.denials).toEqual([]);
  });

  it('uses every grant, or the grant is listed with the call that needs it', () => {
    const rules = (objects.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.name.startsWith('ambit-controller')) as unknown as Array<{ rules: Rule[] }>)
      .flatMap((r) => r.rules);
    const unused: string[] = [];
    for (const rule of rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            const names = rule.resourceNames ?? [undefined];
            for (const name of names) {
              const used = calls.some((c) => c.verb === verb && c.group === group && (c.subresource ? `${c.resource}/${c.subresource}` : c.resource) === resource && (name === undefined || c.name === name));
              const key = `${verb} ${group}/${resource}${name ? ` ${name}` : ''}`;
              if (!used && !NOT_EXERCISED[key]) unused.push(key);
            }
          }
        }
      }
    }
    expect(unused).toEqual([]);
  });

  it('watches the mesh ConfigMap and keeps the last good settings on a bad edit', async () => {
    const cm = api!.getObject('ConfigMap', 'istio', NS)!;
    const applied = (stderr.match(/mesh settings applied/g) ?? []).length;
    api!.update({ ...cm, data: { mesh: 'outboundTrafficPolicy: { mode: REGISTRY_ONLY }\n' } });
    await until('the edit to be applied', () => (stderr.match(/mesh settings applied/g) ?? []).length > applied);
    api!.update({ ...api!.getObject('ConfigMap', 'istio', NS)!, data: { mesh: 'outboundTrafficPolicy: { mode: SOMETIMES }\n' } });
    await until('the rejection log line', () => /mesh settings rejected; the last good settings stay in force/.test(stderr));
    expect(child!.exitCode).toBeNull();
  });
});
