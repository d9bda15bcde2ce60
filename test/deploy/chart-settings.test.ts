// The chart against the binaries' own settings declarations, for every profile, rendered
// with the real helm: no template sets a variable or flag no binary reads, none misses one
// the binary requires in the mode its args select, and the paths it points at are mounted.
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { listProfiles } from '../../ctl/chart/values.js';
import { AGENT_SPEC, settingsFromEnv } from '../../agent/config/settings.js';
import { controllerSettings } from '../../controller/settings.js';
import { waypointSettings } from '../../waypoint/config/settings.js';
import { renderManifest } from '../../ctl/chart/render.js';
import { parseManifest, render, type K8sObject } from '../support/manifests.js';
import { checkContainer, containerEnv, mountFor, type Container } from './container-settings.js';

const PROFILES = listProfiles().map((p) => p.name);
const NAMESPACE = 'ambit-system';

type Volume = {
  name: string; emptyDir?: object; hostPath?: { path: string }; configMap?: { name: string; optional?: boolean };
  projected?: { sources: Array<{ serviceAccountToken?: { path: string; audience?: string } }> };
};
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: Volume[]; serviceAccountName?: string };
interface RenderedPod { readonly where: string; readonly spec: PodSpec }

/** Every pod template: workloads, plus the waypoint Deployment the controller renders from its template ConfigMap. */
function podsOf(objects: K8sObject[]): RenderedPod[] {
  const pods: RenderedPod[] = [];
  for (const o of objects) {
    if (['Deployment', 'DaemonSet', 'StatefulSet', 'Job'].includes(o.kind)) {
      pods.push({ where: `${o.kind}/${o.metadata.name}`, spec: (o.spec as { template: { spec: PodSpec } }).template.spec });
    }
    if (o.kind === 'ConfigMap' && o.metadata.name === 'ambit-waypoint-template') {
      const dep = parseYaml((o as unknown as { data: Record<string, string> }).data['deployment.yaml']!) as { spec: { template: { spec: PodSpec } } };
      pods.push({ where: 'ConfigMap/ambit-waypoint-template deployment.yaml', spec: dep.spec.template.spec });
    }
  }
  return pods;
}

function volumeOf(spec: PodSpec, c: Container, file: string): Volume | undefined {
  const mount = mountFor(c, file);
  return mount ? spec.volumes?.find((v) => v.name === mount.name) : undefined;
}

describe.each(PROFILES)('profile %s: every Ambit container starts as rendered', async (profile) => {
  const objects = await render(profile);
  const pods = podsOf(objects);
  const checks = pods.flatMap((p) => [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => ({ pod: p, c, check: checkContainer(`${p.where} ${c.name}`, c, { namespace: NAMESPACE, ...(p.spec.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}) }) })));
  const controller = checks.find((x) => x.check?.component === 'controller');

  it('sets only names the binaries read, and every name they require in the rendered mode', () => {
    expect(checks.flatMap((x) => x.check?.problems ?? [])).toEqual([]);
  });

  it('agents and waypoints run in controller mode, pin the controller\'s identity, and find its root and their token', () => {
    for (const { pod, c, check } of checks) {
      if (check?.component !== 'agent' && check?.component !== 'waypoint') continue;
      expect(check.mode, `${pod.where} ${c.name}`).toBe('controller');
      const s = check.component === 'agent' ? settingsFromEnv(check.env) : waypointSettings(['node', 'main', ...(c.args ?? [])], check.env);
      if (controller?.check) {
        const own = controllerSettings(controller.check.flags, controller.check.env);
        expect(s.controllerIdentity, `${pod.where}: the identity the controller presents`).toBe(own.identity);
      } else {
        expect(s.controllerIdentity).toMatch(/^spiffe:\/\/cluster\.local\/ns\/[^/]+\/sa\/ambit-controller$/);
      }
      const roots = volumeOf(pod.spec, c, s.controllerRoots!);
      expect(roots?.configMap, `${pod.where}: AMBIT_CONTROLLER_ROOTS ${s.controllerRoots} is on the published root ConfigMap`).toEqual({ name: 'ambit-ca-root-cert', optional: true });
      const token = volumeOf(pod.spec, c, s.tokenFile);
      const projected = token?.projected?.sources.find((src) => src.serviceAccountToken)?.serviceAccountToken;
      expect(projected, `${pod.where}: AMBIT_TOKEN_FILE ${s.tokenFile} is a projected token`).toBeDefined();
      expect(projected!.audience).toBe('ambit-ca');
      expect(s.tokenFile.endsWith(`/${projected!.path}`)).toBe(true);
    }
  });

  it('the controller\'s state folder is writable', () => {
    if (!controller?.check) return;
    const s = controllerSettings(controller.check.flags, controller.check.env);
    expect(s.source).toBe('kube');
    const volume = volumeOf(controller.pod.spec, controller.c, s.stateDir);
    expect(volume?.emptyDir, `--state-dir ${s.stateDir} on an emptyDir`).toBeDefined();
    expect(mountFor(controller.c, s.stateDir)?.readOnly).not.toBe(true);
  });

  it('a gateway container runs a gateway mode and names the labels its Gateways select', () => {
    let gateways = 0;
    for (const { pod, c, check } of checks) {
      if (check?.component !== 'waypoint') continue;
      const mode = check.flags['--mode'] ?? 'waypoint';
      if (mode === 'waypoint') continue;
      expect(['ingress-gateway', 'egress-gateway'], `${pod.where} ${c.name}`).toContain(mode);
      const s = waypointSettings(['node', 'waypoint', ...Object.entries(check.flags).flat().map(String)], check.env);
      expect(s.gateway.labels.istio, `${pod.where} ${c.name}`).toBe(mode === 'ingress-gateway' ? 'ingressgateway' : 'egressgateway');
      expect(s.gateway.credentialSource).toBe('kube');
      gateways++;
    }
    const rendered = objects.filter((o) => o.kind === 'Deployment' && /gateway$/.test(o.metadata.name)).length;
    expect(gateways, 'every rendered gateway Deployment was checked').toBe(rendered);
  });
});

describe('chart switches', () => {
  const agentOf = async (set: string[]): Promise<Container> => {
    const ds = (await render('default', set)).find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'ambit-agent')!;
    return (ds.spec as { template: { spec: PodSpec } }).template.spec.containers.find((c) => c.name === 'agent')!;
  };

  it('SOCKS5 is off unless agent.socks5.enabled, and then on 127.0.0.1 only', async () => {
    const off = settingsFromEnv(containerEnv(await agentOf([]), { namespace: NAMESPACE }));
    expect(off.ports.socks5).toBe(0);
    const on = settingsFromEnv(containerEnv(await agentOf(['agent.socks5.enabled=true']), { namespace: NAMESPACE }));
    expect(on.ports.socks5).toBe(15080);
    expect(on.localHost).toBe('127.0.0.1');
  });

  it('gateways render when enabled, each with a Service on the ports its container listens on, and none when disabled', async () => {
    const on = await render('demo', ['gateways.ingress.enabled=true', 'gateways.egress.enabled=true']);
    const names = (objs: typeof on, kind: string) => objs.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    expect(names(on, 'Deployment')).toEqual(expect.arrayContaining(['ambit-ingressgateway', 'ambit-egressgateway']));
    const svc = on.find((o) => o.kind === 'Service' && o.metadata.name === 'ambit-ingressgateway')!;
    const ports = (svc.spec as { ports: Array<{ port: number; targetPort: number }> }).ports;
    expect(ports.every((p) => p.port === p.targetPort)).toBe(true);
    const off = await render('demo', ['gateways.ingress.enabled=false', 'gateways.egress.enabled=false']);
    expect(off.filter((o) => /gateway/.test(o.metadata.name) && o.kind !== 'CustomResourceDefinition')).toEqual([]);
  });

  it('in another release namespace the pinned identity is still the one the controller presents', async () => {
    const objects = parseManifest(await renderManifest({ profile: 'default', namespace: 'mesh-cp' }));
    const podOf = (kind: string, name: string): PodSpec => (objects.find((o) => o.kind === kind && o.metadata.name === name)!.spec as { template: { spec: PodSpec } }).template.spec;
    const ctl = podOf('Deployment', 'ambit-controller');
    const ctlCheck = checkContainer('controller', ctl.containers[0]!, { namespace: 'mesh-cp', serviceAccount: ctl.serviceAccountName! })!;
    const agent = settingsFromEnv(containerEnv(podOf('DaemonSet', 'ambit-agent').containers.find((c) => c.name === 'agent')!, { namespace: 'mesh-cp' }));
    expect(agent.controllerIdentity).toBe('spiffe://cluster.local/ns/mesh-cp/sa/ambit-controller');
    expect(controllerSettings(ctlCheck.flags, ctlCheck.env).identity).toBe(agent.controllerIdentity);
  });

  it('global.controllerIdentity and the release namespace set the pinned identity', async () => {
    const env = containerEnv(await agentOf(['global.controllerIdentity=spiffe://example.org/ns/cp/sa/ctl']), { namespace: NAMESPACE });
    expect(env.AMBIT_CONTROLLER_IDENTITY).toBe('spiffe://example.org/ns/cp/sa/ctl');
  });
});

describe('the container check itself', () => {
  const agent: Container = {
    name: 'agent', image: 'ghcr.io/ambit-mesh/agent:0.1.0',
    env: [
      { name: 'AMBIT_CONTROLLER', value: 'ctl:15012' }, { name: 'AMBIT_CONTROLLER_ROOTS', value: '/r/root-cert.pem' },
      { name: 'AMBIT_CONTROLLER_IDENTITY', value: 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller' },
    ],
  };

  it('passes a complete container', () => {
    expect(checkContainer('a', agent, { namespace: NAMESPACE })?.problems).toEqual([]);
  });

  it('fails a name no binary reads, a missing required setting, an unknown flag and a bad value', () => {
    const unknownVar = checkContainer('a', { ...agent, env: [...agent.env!, { name: 'AMBIT_ENROLMENT_SOCKET', value: '/x' }] }, { namespace: NAMESPACE })!;
    expect(unknownVar.problems.join('\n')).toMatch(/sets AMBIT_ENROLMENT_SOCKET, which ambit-agent does not read/);
    const missing = checkContainer('a', { ...agent, env: agent.env!.filter((e) => e.name !== 'AMBIT_CONTROLLER_ROOTS') }, { namespace: NAMESPACE })!;
    expect(missing.problems.join('\n')).toMatch(/controller mode needs AMBIT_CONTROLLER_ROOTS/);
    const controller = checkContainer('c', { name: 'c', image: 'x/controller:1', args: ['--source', 'kube', '--mesh-config', '/m'] }, { namespace: NAMESPACE })!;
    expect(controller.problems.join('\n')).toMatch(/unknown option '--mesh-config'/);
    const badPort = checkContainer('a', { ...agent, env: [...agent.env!, { name: 'AMBIT_SOCKS5_PORT', value: 'yes' }] }, { namespace: NAMESPACE })!;
    expect(badPort.problems.join('\n')).toMatch(/AMBIT_SOCKS5_PORT: not a port number/);
    const gateway = checkContainer('g', { name: 'g', image: 'x/waypoint:1', args: ['--mode', 'ingress-gateway'], env: [] }, { namespace: NAMESPACE })!;
    expect(gateway.problems.join('\n')).toMatch(/POD_NAMESPACE is not set/);
  });

  it('knows every agent variable the old chart set wrongly', () => {
    const names = new Set(Object.values(AGENT_SPEC.settings).map((s) => s.env));
    for (const wrong of ['AMBIT_ENROLMENT_SOCKET', 'AMBIT_SOCKS5', 'AMBIT_CA_SECRET', 'AMBIT_CA_PLUGGED', 'AMBIT_DEFAULT_CERT_TTL']) expect(names.has(wrong)).toBe(false);
  });
});
