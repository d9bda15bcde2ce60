// The waypoint reconciler against the fake API server (REST create/replace/delete), with the
// template ConfigMap rendered from the real chart by the real helm.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer, STANDARD_RESOURCES, type FakeObject } from '../../test/support/fake-apiserver.js';
import { render, validateAgainstKubernetes, type K8sObject } from '../../test/support/manifests.js';
import type { KubeObject } from '../sources/types.js';
import {
  desiredForGateway,
  HASH_ANNOTATION,
  templateFromConfigMap,
  type Manifest,
  type WaypointTemplate,
} from './desired.js';
import { restWaypointClient, type WaypointKubeClient } from './kube-client.js';
import { reconcileWaypoints, WaypointReconciler } from './reconciler.js';

const NS = 'ambit-system';
let templateCm: K8sObject;

function gateway(namespace: string, name: string, opts: { cls?: string; uid?: string; sa?: string } = {}): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      namespace,
      name,
      uid: opts.uid ?? `uid-${namespace}-${name}`,
      ...(opts.sa ? { annotations: { 'gateway.istio.io/service-account': opts.sa } } : {}),
    },
    spec: {
      gatewayClassName: opts.cls ?? 'ambit-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

beforeAll(async () => {
  const objs = await render('default');
  templateCm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ambit-waypoint-template')!;
  expect(templateCm).toBeDefined();
}, 120_000);

describe('desired objects of a waypoint Gateway', () => {
  it('fills the placeholders of the chart template and owns every object', async () => {
    const tpl = templateFromConfigMap(templateCm) as WaypointTemplate;
    const objs = desiredForGateway(gateway('shop', 'waypoint', { sa: 'shop-wp' }), tpl) as Manifest[];
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/shop/shop-wp',
      'Service/shop/waypoint',
      'Deployment/shop/waypoint',
    ]);
    for (const o of objs) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'ambit-controller',
        'gateway.networking.k8s.io/gateway-name': 'waypoint',
      });
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'Gateway',
          name: 'waypoint',
          uid: 'uid-shop-waypoint',
          controller: true,
        },
      ]);
      expect(o.metadata.annotations?.[HASH_ANNOTATION]).toMatch(/^[0-9a-f]{32}$/);
      await validateAgainstKubernetes(o as K8sObject);
    }
    const text = JSON.stringify(objs);
    expect(text).not.toMatch(/GATEWAY_NAME|GATEWAY_NAMESPACE|SERVICE_ACCOUNT/);
    const dep = objs[2] as Manifest & {
      spec: {
        template: { spec: { serviceAccountName: string; containers: Array<{ image: string }> } };
        selector: { matchLabels: Record<string, string> };
      };
    };
    expect(dep.spec.template.spec.serviceAccountName).toBe('shop-wp');
    expect(dep.spec.selector.matchLabels).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
    expect(dep.spec.template.spec.containers[0]!.image).toMatch(/waypoint/);
    // a different uid (Gateway re-created) changes the hash, so the objects are re-owned
    const again = desiredForGateway(gateway('shop', 'waypoint', { sa: 'shop-wp', uid: 'other' }), tpl) as Manifest[];
    expect(again[2]!.metadata.annotations?.[HASH_ANNOTATION]).not.toBe(dep.metadata.annotations?.[HASH_ANNOTATION]);
  });

  it('names the Gateway and field for bad input', () => {
    const tpl = templateFromConfigMap(templateCm) as WaypointTemplate;
    expect(desiredForGateway(gateway('shop', 'Bad_Name'), tpl)).toMatchObject({
      kind: 'Gateway',
      namespace: 'shop',
      name: 'Bad_Name',
      field: 'metadata.name',
    });
    expect(desiredForGateway(gateway('shop', 'wp', { sa: 'No SA' }), tpl)).toMatchObject({
      field: 'metadata.annotations[gateway.istio.io/service-account]',
    });
    expect(
      templateFromConfigMap({
        metadata: { name: 'ambit-waypoint-template', namespace: NS },
        data: { 'service.yaml': 'x' },
      }),
    ).toMatchObject({ field: 'data.deployment.yaml' });
    expect(
      desiredForGateway(gateway('shop', 'wp'), {
        deployment: 'kind: Deployment\nmetadata: {name: other}',
        service: (templateCm.data as Record<string, string>)['service.yaml']!,
      }),
    ).toMatchObject({ kind: 'ConfigMap', reason: expect.stringContaining('must be named GATEWAY_NAME') });
  });
});

describe('reconciling against the API server', () => {
  let server: FakeApiServer;
  let client: WaypointKubeClient;
  const names = async (kind: string): Promise<string[]> => {
    const plural = { ServiceAccount: 'serviceaccounts', Service: 'services', Deployment: 'deployments' }[kind]!;
    const base = kind === 'Deployment' ? '/apis/apps/v1' : '/api/v1';
    const list = (await (await fetch(`${server.url}${base}/${plural}`)).json()) as { items: FakeObject[] };
    return list.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort();
  };
  const opts = { templateNamespace: NS };

  beforeEach(async () => {
    server = await FakeApiServer.start();
    for (const r of STANDARD_RESOURCES) server.serve(r);
    server.serve({ group: 'apps', versions: ['v1'], plural: 'deployments', kind: 'Deployment', namespaced: true });
    server.serve({ group: '', versions: ['v1'], plural: 'configmaps', kind: 'ConfigMap', namespaced: true });
    server.create(templateCm as FakeObject);
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    client = restWaypointClient(kc);
  });
  afterEach(async () => {
    await server.close();
  });
  afterAll(() => undefined);

  it('creates per Gateway, is idempotent, replaces what changed and deletes what a removed Gateway had', async () => {
    const shop = gateway('shop', 'waypoint');
    const pay = gateway('pay', 'wp2');
    const others = [
      gateway('shop', 'ingress', { cls: 'istio' }),
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' } },
    ];
    const first = await reconcileWaypoints(client, [shop, pay, ...others], opts);
    expect(first.problems).toEqual([]);
    expect(first.created).toHaveLength(6);
    expect(await names('Deployment')).toEqual(['pay/wp2', 'shop/waypoint']);
    expect(await names('Service')).toEqual(['pay/wp2', 'shop/waypoint']);
    expect(await names('ServiceAccount')).toEqual(['pay/wp2', 'shop/waypoint']);
    const dep = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'waypoint' });
    expect(dep?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: 'Gateway',
      name: 'waypoint',
      uid: 'uid-shop-waypoint',
    });

    expect(await reconcileWaypoints(client, [shop, pay, ...others], opts)).toEqual({
      created: [],
      replaced: [],
      deleted: [],
      problems: [],
    });

    // the API server assigned a cluster IP; a template change replaces the Service and keeps it
    const svc = (await client.get({ apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'waypoint' }))!;
    server.update({
      ...svc,
      spec: { ...(svc.spec as object), clusterIP: '10.96.7.7', clusterIPs: ['10.96.7.7'] },
    } as FakeObject);
    const data = templateCm.data as Record<string, string>;
    server.update({
      ...templateCm,
      data: {
        ...data,
        'service.yaml': data['service.yaml']!.replace(
          'targetPort: 15020 }',
          'targetPort: 15020 }\n    - { name: admin, port: 15000, targetPort: 15000 }',
        ),
      },
    } as FakeObject);
    const changed = await reconcileWaypoints(client, [shop, pay], opts);
    expect(changed.replaced.sort()).toEqual(['Service/pay/wp2', 'Service/shop/waypoint']);
    const svc2 = (await client.get({ apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'waypoint' }))!;
    expect(svc2.spec as { clusterIP: string; ports: unknown[] }).toMatchObject({
      clusterIP: '10.96.7.7',
      ports: expect.arrayContaining([expect.objectContaining({ name: 'admin' })]),
    });

    // a hand edit of a managed Deployment is put back
    server.update({
      ...dep!,
      spec: { ...(dep!.spec as object), replicas: 9 },
      metadata: { ...dep!.metadata, annotations: { [HASH_ANNOTATION]: 'edited' } },
    } as FakeObject);
    expect((await reconcileWaypoints(client, [shop, pay], opts)).replaced).toEqual(['Deployment/shop/waypoint']);

    // a different service account: the new one is created, the Deployment points at it, the old one goes
    const renamed = await reconcileWaypoints(client, [gateway('shop', 'waypoint', { sa: 'shop-wp' }), pay], opts);
    expect(renamed).toMatchObject({
      created: ['ServiceAccount/shop/shop-wp'],
      replaced: ['Deployment/shop/waypoint'],
      deleted: ['ServiceAccount/shop/waypoint'],
    });

    const removed = await reconcileWaypoints(client, [gateway('shop', 'waypoint', { sa: 'shop-wp' })], opts);
    expect(removed.deleted).toEqual(['Deployment/pay/wp2', 'Service/pay/wp2', 'ServiceAccount/pay/wp2']);
    expect(await names('Deployment')).toEqual(['shop/waypoint']);
  });

  it('two controller replicas racing to create the same objects report no problem', async () => {
    const shop = gateway('shop', 'waypoint');
    // The other replica creates everything between this replica's list and its creates.
    // The first pass lists nothing (one list per managed kind); the chart grants `get` on the template only.
    let lists = 0;
    const racing: WaypointKubeClient = {
      ...client,
      list: async (apiVersion, kind, selector) => (lists++ < 3 ? [] : client.list(apiVersion, kind, selector)),
      get: (ref) =>
        ref.kind === 'ConfigMap'
          ? client.get(ref)
          : Promise.reject(new Error('403: get is not granted by the chart RBAC')),
      create: async (m) => {
        await client.create(m).catch(() => undefined);
        return client.create(m);
      },
    };
    const r = await reconcileWaypoints(racing, [shop], opts);
    expect(r.problems).toEqual([]);
    expect(await names('Deployment')).toEqual(['shop/waypoint']);
  });

  it('leaves objects it does not manage alone, and keeps the last good state without a template', async () => {
    server.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'shop', name: 'mine', labels: { app: 'mine' } },
      spec: { ports: [{ port: 80 }] },
    });
    const r = await reconcileWaypoints(
      client,
      [gateway('shop', 'mine'), gateway('pay', 'wp2'), gateway('pay', 'Bad_Name')],
      opts,
    );
    expect(r.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'Service',
          namespace: 'shop',
          name: 'mine',
          reason: expect.stringContaining('not managed by the Ambit controller'),
        }),
        expect.objectContaining({ kind: 'Gateway', namespace: 'pay', name: 'Bad_Name', field: 'metadata.name' }),
      ]),
    );
    const mine = await client.get({ apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'mine' });
    expect(mine?.metadata.labels).toEqual({ app: 'mine' });
    expect(await names('Deployment')).toEqual(['pay/wp2', 'shop/mine']);

    // a removed Gateway still loses its objects without a template; the others are kept
    server.delete('ConfigMap', 'ambit-waypoint-template', NS);
    const noTemplate = await reconcileWaypoints(client, [gateway('pay', 'wp2')], opts);
    expect(noTemplate.problems).toEqual([
      expect.objectContaining({
        kind: 'ConfigMap',
        name: 'ambit-waypoint-template',
        reason: expect.stringContaining('not found'),
      }),
    ]);
    expect(noTemplate.deleted).toEqual(['Deployment/shop/mine', 'ServiceAccount/shop/mine']);
    expect(await names('Deployment')).toEqual(['pay/wp2']);
    expect(await names('Service')).toEqual(['pay/wp2', 'shop/mine']);
  });

  it('WaypointReconciler runs a pass when the waypoint Gateways change, not for other objects', async () => {
    const rec = new WaypointReconciler({ client, templateNamespace: NS, resyncMs: 0 });
    try {
      const shop = gateway('shop', 'waypoint');
      rec.update([shop]);
      rec.update([shop, { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'shop', name: 'p' } }]);
      await rec.sync();
      expect(await names('Deployment')).toEqual(['shop/waypoint']);
      const lists = server.requests.filter((p) => p.startsWith('/apis/apps/v1/deployments')).length;
      expect(lists).toBe(2); // the first update's pass and the explicit sync; the Pod changed nothing
      rec.update([]);
      await rec.sync();
      expect(await names('Deployment')).toEqual([]);
    } finally {
      rec.close();
    }
  });
});
