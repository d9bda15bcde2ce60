// The Helm chart, checked with the real helm binary: lint per profile, every rendered object
// against the Kubernetes schemas, custom resources against the chart's CRDs, and the
// security-relevant parts pinned.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir } from '../../ctl/chart/tools.js';
import { listProfiles } from '../../ctl/chart/values.js';
import { renderCrds } from '../../ctl/crds/definitions.js';
import { CRD_FILE } from '../../ctl/crds/write.js';
import { meshConfigFrom } from '../../controller/translate/mesh-config.js';
import type { KubeObject } from '../../controller/sources/types.js';
import { helm, parseManifest, render, validateAgainstKubernetes, validateCustomResource, type K8sObject } from '../support/manifests.js';

const PROFILES = listProfiles().map((p) => p.name);

type Container = { name: string; securityContext?: { privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] }; runAsNonRoot?: boolean } };
type PodSpec = { containers: Container[]; volumes?: Array<{ name: string; hostPath?: { path: string } }>; hostNetwork?: boolean; tolerations?: unknown[]; securityContext?: { runAsNonRoot?: boolean } };

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not rendered`);
  return found;
}

function podSpec(obj: K8sObject): PodSpec {
  return (obj.spec as { template: { spec: PodSpec } }).template.spec;
}

describe('helm chart', () => {
  it('has the expected profiles', () => {
    expect(PROFILES).toEqual(expect.arrayContaining(['default', 'demo', 'minimal', 'ambient', 'empty', 'preview']));
  });

  it.each(PROFILES)('helm lint passes for profile %s', async (profile) => {
    const out = await helm(['lint', chartDir(), '-f', path.join(chartDir(), 'profiles', `${profile}.yaml`)]);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('helm rejects a value outside values.schema.json', async () => {
    await expect(helm(['template', 'x', chartDir(), '--set', 'global.logLevel=loud'])).rejects.toThrow(/logLevel/);
  });

  it.each(PROFILES)('every object of profile %s matches its Kubernetes schema', async (profile) => {
    const objects = await render(profile);
    expect(objects.length).toBeGreaterThan(0);
    for (const obj of objects) await validateAgainstKubernetes(obj);
  });

  it('the CRD file is generated from ctl/crds and serves every Istio version', () => {
    const shipped = readFileSync(path.join(chartDir(), '..', '..', '..', CRD_FILE), 'utf8');
    expect(shipped).toBe(renderCrds());
    const crds = parseManifest(shipped);
    const versions = (name: string) =>
      ((find(crds, 'CustomResourceDefinition', name).spec as { versions: Array<{ name: string }> }).versions).map((v) => v.name);
    expect(versions('virtualservices.networking.istio.io')).toEqual(['v1', 'v1beta1', 'v1alpha3']);
    expect(versions('authorizationpolicies.security.istio.io')).toEqual(['v1', 'v1beta1']);
  });

  it('Istio resources validate against the CRD schemas, and broken ones do not', () => {
    const good = parseManifest(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: customer, namespace: coffee-shop }
spec:
  hosts: [customer-service]
  http:
    - match: [{ headers: { user-agent: { regex: '.*Firefox.*' } } }]
      route: [{ destination: { host: customer-service, subset: v1 } }]
    - route:
        - { destination: { host: customer-service, subset: v1 }, weight: 70 }
        - { destination: { host: customer-service, subset: v2 }, weight: 30 }
      timeout: 2s
      retries: { attempts: 3, perTryTimeout: 500ms, retryOn: 5xx,connect-failure }
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: { name: payment, namespace: coffee-shop }
spec:
  selector: { matchLabels: { app: payment-service } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: [cluster.local/ns/coffee-shop/sa/order-service] } }] }]
`);
    for (const obj of good) expect(validateCustomResource(obj)).toEqual([]);

    const bad = parseManifest(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: bad, namespace: coffee-shop }
spec:
  hosts: [x]
  http: [{ timeout: 2 seconds, route: [{ destination: { host: x }, weight: "seventy" }] }]
`);
    const problems = validateCustomResource(bad[0]!);
    expect(problems.join('\n')).toMatch(/timeout/);
    expect(problems.join('\n')).toMatch(/weight/);
  });

  it('every Istio resource of examples/ validates against the CRD schemas', () => {
    const dir = path.join(chartDir(), '..', '..', '..', 'examples', 'coffee-shop');
    const objects = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseManifest(readFileSync(path.join(dir, f), 'utf8')))
      .filter((o) => o.apiVersion.includes('istio.io'));
    expect(objects.length).toBeGreaterThanOrEqual(4);
    for (const obj of objects) expect(validateCustomResource(obj)).toEqual([]);
  });

  describe('security-relevant parts (default profile)', async () => {
    const objects = await render('default');

    it('the agent gets NET_ADMIN and SYS_ADMIN only, not privileged, on every node', () => {
      const spec = podSpec(find(objects, 'DaemonSet', 'ambit-agent'));
      const agent = spec.containers.find((c) => c.name === 'agent')!;
      expect(agent.securityContext?.privileged).toBe(false);
      expect(agent.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN'] });
      const installer = spec.containers.find((c) => c.name === 'cni-installer')!;
      expect(installer.securityContext?.capabilities?.add).toBeUndefined();
      expect(spec.tolerations).toContainEqual({ operator: 'Exists' });
    });

    it('nodes join tainted until ready: the agent tolerates the taint, its installer removes it from its own node only', async () => {
      const taint = { key: 'ambit.dev/agent-not-ready', operator: 'Exists', effect: 'NoSchedule' };
      const spec = podSpec(find(objects, 'DaemonSet', 'ambit-agent'));
      expect(spec.tolerations).toContainEqual(taint);
      // The agents need the controller's CA root to become ready: the controller must not wait for them.
      expect(podSpec(find(objects, 'Deployment', 'ambit-controller')).tolerations).toContainEqual(taint);
      type Installer = { args: string[]; env?: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> };
      const installer = spec.containers.find((c) => c.name === 'cni-installer') as unknown as Installer;
      expect(installer.args.join(' ')).toContain('--node-taint ambit.dev/agent-not-ready');
      expect(installer.env).toContainEqual({ name: 'AMBIT_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      expect(find(objects, 'ClusterRole', 'ambit-agent-node-taint')).toMatchObject({ rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }] });
      expect(find(objects, 'ClusterRoleBinding', 'ambit-agent-node-taint')).toMatchObject({ subjects: [{ kind: 'ServiceAccount', name: 'ambit-agent' }] });
      const off = await render('default', ['agent.nodeReadyTaint.enabled=false']);
      const offSpec = podSpec(find(off, 'DaemonSet', 'ambit-agent'));
      expect(offSpec.tolerations).toEqual([{ operator: 'Exists' }]);
      expect(JSON.stringify(offSpec.containers)).not.toContain('--node-taint');
      expect(off.some((o) => o.metadata.name === 'ambit-agent-node-taint')).toBe(false);
    });

    it('the agent mounts exactly the host paths it needs', () => {
      const spec = podSpec(find(objects, 'DaemonSet', 'ambit-agent'));
      const hostPaths = (spec.volumes ?? []).filter((v) => v.hostPath).map((v) => v.hostPath!.path).sort();
      expect(hostPaths).toEqual(['/etc/cni/net.d', '/opt/cni/bin', '/var/run/ambit', '/var/run/netns']);
    });

    it('the controller runs as non-root with no capabilities and can only read what it watches', () => {
      const spec = podSpec(find(objects, 'Deployment', 'ambit-controller'));
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      expect(spec.containers[0]!.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
      const role = find(objects, 'ClusterRole', 'ambit-controller') as K8sObject & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
      for (const rule of role.rules) {
        expect(rule.verbs).not.toContain('*');
        expect(rule.resources).not.toContain('*');
      }
      const verbsOn = (group: string, resource: string) =>
        role.rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
      expect(verbsOn('', 'pods')).toEqual(['get', 'list', 'watch']);
      expect(verbsOn('security.istio.io', 'authorizationpolicies')).toEqual(['list', 'watch']);
      expect(verbsOn('authentication.k8s.io', 'tokenreviews')).toEqual(['create']);
      expect(verbsOn('', 'secrets')).toEqual([]);
      const caRole = find(objects, 'Role', 'ambit-controller-ca') as K8sObject & { rules: Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }> };
      expect(caRole.rules[0]).toMatchObject({ resources: ['secrets'], resourceNames: ['cacerts', 'ambit-ca'], verbs: ['get'] });
    });

    it('agent rollout keeps traffic flowing: one node at a time', () => {
      const ds = find(objects, 'DaemonSet', 'ambit-agent') as K8sObject & { spec: { updateStrategy: unknown } };
      expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    });
  });

  it("meshConfig.dnsCapture reaches the mesh settings the controller reads (ISTIO_META_DNS_CAPTURE)", async () => {
    const dnsCaptureOf = async (set: string[]) => {
      const cm = (await render('default', set)).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'istio');
      const { mesh, issues } = meshConfigFrom(cm as unknown as KubeObject);
      expect(issues.list).toEqual([]);
      return mesh.dnsCapture;
    };
    expect(await dnsCaptureOf([])).toBe(true);
    expect(await dnsCaptureOf(['meshConfig.dnsCapture=false'])).toBe(false);
  });

  it('profiles render what they promise', async () => {
    const kinds = (objs: K8sObject[]) => new Set(objs.map((o) => `${o.kind}/${o.metadata.name}`));
    const minimal = kinds(await render('minimal'));
    expect(minimal.has('Deployment/ambit-controller')).toBe(true);
    expect(minimal.has('DaemonSet/ambit-agent')).toBe(false);
    const demo = kinds(await render('demo'));
    expect(demo.has('Deployment/ambit-controller')).toBe(true);
    // demo turns the egress gateway on beside the default ingress gateway.
    expect(demo.has('Deployment/ambit-egressgateway')).toBe(true);
    expect(demo.has('Deployment/ambit-ingressgateway')).toBe(true);
    const empty = await render('empty');
    expect(empty.every((o) => o.kind === 'CustomResourceDefinition' || o.kind === 'ConfigMap')).toBe(true);
  });
});
