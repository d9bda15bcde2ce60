import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { assembleSnapshot, snapshotResources, TYPE_NAMESPACE } from '../../core/xds/resources.js';

const base = `apiVersion: v1
kind: Namespace
metadata: { name: ambient, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: migrated, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: plain }
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: { topology.kubernetes.io/region: eu-west, topology.kubernetes.io/zone: eu-west-1a, topology.istio.io/subzone: rack1 }
`;

const pod = (ns: string, name: string, extra = ''): string => `---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: { app: ${name} }
${extra}`;

describe('workloads', () => {
  it.each([
    ['namespace label mesh-mode=ambient', 'ambient', '', true],
    ['alias istio.io/dataplane-mode=ambient', 'migrated', '', true],
    ['namespace without a label', 'plain', '', false],
  ])('enrolment: %s', (_name, ns, extra, enrolled) => {
    const w = translate(yamlObjects(base + pod(ns, 'p', extra))).snapshot.workloads[0];
    expect(w?.enrolled).toBe(enrolled);
  });

  it('pod label mesh-mode=none opts a pod out of an ambient namespace', () => {
    const objects = yamlObjects(`${base}---
apiVersion: v1
kind: Pod
metadata: { name: out, namespace: ambient, labels: { app: out, mesh-mode: none } }
spec: {}
`);
    expect(translate(objects).snapshot.workloads[0]?.enrolled).toBe(false);
  });

  it('takes IPs from status.podIPs, then status.podIP, then the ambit.dev/pod-ip annotation', () => {
    const objects = yamlObjects(`${base}${pod('ambient', 'dual')}spec: { nodeName: node-a }
status: { podIP: 10.0.0.1, podIPs: [{ ip: 10.0.0.1 }, { ip: "fd00::1" }] }
${pod('ambient', 'single')}status: { podIP: 10.0.0.2 }
${pod('ambient', 'local', '  annotations: { ambit.dev/pod-ip: 10.244.1.7 }\n')}spec: {}
${pod('ambient', 'unknown')}spec: {}
${pod('ambient', 'done')}status: { phase: Succeeded, podIP: 10.0.0.9 }
`);
    const ws = translate(objects, { defaultNode: 'laptop' }).snapshot.workloads;
    expect(Object.fromEntries(ws.map((w) => [w.name, w.ips]))).toEqual({
      dual: ['10.0.0.1', 'fd00::1'],
      single: ['10.0.0.2'],
      local: ['10.244.1.7'],
      unknown: [],
    });
    expect(ws.find((w) => w.name === 'dual')?.node).toBe('node-a');
    expect(ws.find((w) => w.name === 'local')?.node).toBe('laptop');
  });

  it('a pod without spec.nodeName and a WorkloadEntry without ambit.dev/node are on no node unless a local node is given', () => {
    const objects = yamlObjects(`${base}${pod('ambient', 'pending')}spec: {}
${pod('ambient', 'scheduled')}spec: { nodeName: node-a }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: vm, namespace: ambient }
spec: { address: 192.168.1.10 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: vm-on-a, namespace: ambient, annotations: { ambit.dev/node: node-a } }
spec: { address: 192.168.1.11 }
`);
    const nodes = (opts: { defaultNode?: string }): Record<string, string | undefined> =>
      Object.fromEntries(translate(objects, opts).snapshot.workloads.map((w) => [w.name, w.node]));
    // kube mode: no default node
    expect(nodes({})).toEqual({ pending: undefined, scheduled: 'node-a', vm: undefined, 'vm-on-a': 'node-a' });
    expect(translate(objects).snapshot.workloads.find((w) => w.name === 'pending')).not.toHaveProperty('node');
    // file/local mode: the controller's local node
    expect(nodes({ defaultNode: 'laptop' })).toEqual({
      pending: 'laptop',
      scheduled: 'node-a',
      vm: 'laptop',
      'vm-on-a': 'node-a',
    });
  });

  it('namespace labels travel to the agents as Namespace resources', () => {
    const { snapshot } = translate(yamlObjects(base));
    expect(snapshot.namespaces).toEqual([
      { name: 'ambient', labels: { 'mesh-mode': 'ambient' } },
      { name: 'migrated', labels: { 'istio.io/dataplane-mode': 'ambient' } },
      { name: 'plain', labels: {} },
    ]);
    const resources = snapshotResources(snapshot);
    expect([...resources.get(TYPE_NAMESPACE)!.keys()]).toEqual(['ambient', 'migrated', 'plain']);
    expect(assembleSnapshot('v', resources)?.namespaces).toEqual(snapshot.namespaces);
  });

  it('identity from the service account (default when absent) and the mesh trust domain', () => {
    const objects = yamlObjects(`${base}${pod('ambient', 'a')}spec: { serviceAccountName: orders }
${pod('ambient', 'b')}spec: {}
`);
    const ws = translate(objects, { mesh: { trustDomain: 'corp.example' } }).snapshot.workloads;
    expect(ws.map((w) => w.identity)).toEqual([
      'spiffe://corp.example/ns/ambient/sa/orders',
      'spiffe://corp.example/ns/ambient/sa/default',
    ]);
  });

  it('locality from the node topology labels, or the pod istio-locality label', () => {
    const objects = yamlObjects(`${base}${pod('ambient', 'a')}spec: { nodeName: node-a }
---
apiVersion: v1
kind: Pod
metadata: { name: b, namespace: ambient, labels: { istio-locality: us.us-1b.r2 } }
spec: { nodeName: node-a }
`);
    const ws = translate(objects).snapshot.workloads;
    expect(ws[0]?.locality).toEqual({ region: 'eu-west', zone: 'eu-west-1a', subzone: 'rack1' });
    expect(ws[1]?.locality).toEqual({ region: 'us', zone: 'us-1b', subzone: 'r2' });
  });

  it('canonical name and revision for telemetry from app/version labels', () => {
    const objects = yamlObjects(`${base}---
apiVersion: v1
kind: Pod
metadata: { name: x-1, namespace: ambient, labels: { app: orders, version: v3 } }
`);
    expect(translate(objects).snapshot.workloads[0]).toMatchObject({
      canonicalName: 'orders',
      canonicalRevision: 'v3',
    });
  });

  it('a Deployment expands into replicas named <name>-<i> with the template labels and IPs', () => {
    const objects = yamlObjects(`${base}---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ambient, annotations: { ambit.dev/pod-ip: "10.244.0.5, 10.244.0.6" } }
spec:
  replicas: 3
  template:
    metadata: { labels: { app: web } }
    spec: { serviceAccountName: web }
`);
    const ws = translate(objects).snapshot.workloads;
    expect(ws.map((w) => [w.uid, w.ips, w.labels.app])).toEqual([
      ['Pod/ambient/web-0', ['10.244.0.5'], 'web'],
      ['Pod/ambient/web-1', ['10.244.0.6'], 'web'],
      ['Pod/ambient/web-2', [], 'web'],
    ]);
  });

  it('WorkloadEntry is a workload; a WorkloadGroup template fills in what the entry leaves out', () => {
    const objects = yamlObjects(`${base}---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: vms, namespace: ambient }
spec:
  metadata: { labels: { app: legacy } }
  template: { serviceAccount: legacy-sa, labels: { version: v1 }, locality: eu/eu-1 }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: vm-1, namespace: ambient, annotations: { istio.io/autoRegistrationGroup: vms } }
spec: { address: 192.168.1.10 }
---
apiVersion: networking.istio.io/v1alpha3
kind: WorkloadEntry
metadata: { name: vm-2, namespace: ambient }
spec: { address: 192.168.1.11, labels: { app: other }, serviceAccount: vm2 }
`);
    const ws = translate(objects).snapshot.workloads;
    expect(
      ws.map((w) => ({
        uid: w.uid,
        kind: w.kind,
        ips: w.ips,
        labels: w.labels,
        identity: w.identity,
        locality: w.locality,
      })),
    ).toEqual([
      {
        uid: 'WorkloadEntry/ambient/vm-1',
        kind: 'WorkloadEntry',
        ips: ['192.168.1.10'],
        labels: { app: 'legacy', version: 'v1' },
        identity: 'spiffe://cluster.local/ns/ambient/sa/legacy-sa',
        locality: { region: 'eu', zone: 'eu-1' },
      },
      {
        uid: 'WorkloadEntry/ambient/vm-2',
        kind: 'WorkloadEntry',
        ips: ['192.168.1.11'],
        labels: { app: 'other' },
        identity: 'spiffe://cluster.local/ns/ambient/sa/vm2',
        locality: undefined,
      },
    ]);
  });

  it('waypoint from mesh-waypoint or the istio.io/use-waypoint alias; a pod can say none', () => {
    const objects = yamlObjects(`apiVersion: v1
kind: Namespace
metadata: { name: a, labels: { mesh-mode: ambient, istio.io/use-waypoint: wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: a }
spec: { gatewayClassName: ambit-waypoint }
status: { addresses: [{ value: 10.96.5.5 }] }
${pod('a', 'x')}spec: {}
---
apiVersion: v1
kind: Pod
metadata: { name: y, namespace: a, labels: { istio.io/use-waypoint: none } }
`);
    const ws = translate(objects).snapshot.workloads;
    expect(ws.find((w) => w.name === 'x')?.waypoint).toEqual({
      name: 'wp',
      namespace: 'a',
      address: '10.96.5.5',
      identity: 'spiffe://cluster.local/ns/a/sa/wp',
    });
    expect(ws.find((w) => w.name === 'y')?.waypoint).toBeUndefined();
  });
});
