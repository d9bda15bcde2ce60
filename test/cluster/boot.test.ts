// The chart boot test: render deploy/charts/ambit with the real helm for a profile, install it
// into a two-node cluster on this machine (cluster.ts: the test API server enforcing the
// chart's RBAC and answering TokenReviews as a real one, a kubelet per node starting every
// container exactly as rendered, CNI through the conflist the chart's installer writes) and
// check that the mesh works as a user would see it. The full traffic checks run on the
// default profile; every other profile must boot with every container up and ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../ctl/waypoint-objects.js';
import type { FakeObject } from '../support/fake-apiserver.js';
import { describeNetns } from '../support/privileges.js';
import { RELEASE_NAMESPACE } from './chart.js';
import { agentDump, captureInterNode, hasTlsRecords, signWithAgentToken } from './checks.js';
import { Cluster, nodeReadinessTaint } from './cluster.js';
import { must } from './net.js';
import {
  APP_NAMESPACE,
  createApp,
  ingressObjects,
  l4Policy,
  l7Policy,
  marker,
  request,
  requestViaGateway,
} from './workloads.js';

const FULL_PROFILE = 'default';
const PROFILES = [FULL_PROFILE, 'ambient', 'demo'];
const BOOT_MS = 60_000;
const ambitContainer = (id: string): boolean => id.startsWith(`${RELEASE_NAMESPACE}/`) || id.includes('/waypoint');
const onNode =
  (node: string) =>
  (id: string): boolean =>
    ambitContainer(id) && (id.includes(node) || !id.includes('agent'));
// Waypoints go to node-b, so client (node-a) → waypoint (node-b) crosses the inter-node link.
const place = (pod: { metadata: { labels?: Record<string, string> } }): string | undefined =>
  pod.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] ? 'node-b' : undefined;

/** Every Ambit container of the release runs, never restarted, and every release pod is Ready. */
async function everyContainerUpAndReady(cluster: Cluster): Promise<void> {
  await cluster.waitFor(
    'every pod of the release to be Ready',
    BOOT_MS,
    () => {
      const pods = cluster.pods().filter((p) => p.namespace === RELEASE_NAMESPACE);
      const expected = cluster.api.listObjects('Pod', RELEASE_NAMESPACE).length;
      return pods.length > 0 && pods.length === expected && pods.every((p) => p.ready);
    },
    ambitContainer,
  );
  const bad = cluster
    .containers()
    .filter((c) => c.id.startsWith(`${RELEASE_NAMESPACE}/`) && (!c.container.running || c.container.restarts > 0));
  expect(
    bad.map((c) => c.id),
    `containers that exited:\n${cluster.describe(ambitContainer)}`,
  ).toEqual([]);
}

const EARLY = 'early';
const nodeTaints = (cluster: Cluster, node: string): string[] =>
  ((cluster.api.getObject('Node', node)?.spec as { taints?: Array<{ key: string }> } | undefined)?.taints ?? []).map(
    (t) => t.key,
  );

/** Namespace, service account and an unscheduled pod `early/early`; true when both nodes were tainted then. */
function createEarlyPod(cluster: Cluster): boolean {
  const taint = nodeReadinessTaint(cluster.chart.objects);
  const tainted = taint !== undefined && cluster.nodes.every((n) => nodeTaints(cluster, n.name).includes(taint));
  cluster.api.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: EARLY, labels: { 'mesh-mode': 'ambient' } },
  });
  cluster.api.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: EARLY, namespace: EARLY } });
  cluster.api.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: EARLY, namespace: EARLY, labels: { app: EARLY } },
    spec: {
      serviceAccountName: EARLY,
      automountServiceAccountToken: false,
      containers: [
        { name: 'app', image: 'example.com/app:1', command: [process.execPath, '-e', 'setInterval(() => 0, 1 << 30)'] },
      ],
    },
  } as FakeObject);
  return tainted;
}

describeNetns('chart boot test: the rendered chart on a two-node cluster', () => {
  for (const profile of PROFILES) {
    describe(`profile ${profile}`, () => {
      let cluster: Cluster | undefined;
      const c = (): Cluster => {
        if (!cluster) throw new Error('the cluster did not start');
        return cluster;
      };

      let earlyPodWhileTainted: boolean | undefined;
      beforeAll(async () => {
        cluster = await Cluster.start({ profile, tag: 'h2c', octet: 218, place });
        // A pod created before any node is ready (the nodes still carry the readiness taint).
        if (profile === FULL_PROFILE) earlyPodWhileTainted = createEarlyPod(cluster);
      }, 90_000);
      afterAll(async () => {
        const left = await cluster?.stop();
        // Everything goes, also after a failed step: processes, namespaces, veths, bridges, routes.
        expect(left ?? []).toEqual([]);
      }, 240_000); // a loaded CI machine: the next profile must not start while this one tears down

      it(
        'starts every container of the release; each stays up and gets ready; the controller syncs',
        async () => {
          await everyContainerUpAndReady(c());
          const controllers = c()
            .containers()
            .filter((x) => x.id.includes('/ambit-controller'));
          expect(controllers.length).toBeGreaterThan(0);
          for (const { container } of controllers) {
            await c().waitFor(
              'the controller to sync with the API server',
              10_000,
              () => /source synced/.test(container.tail(200)),
              (id) => id.includes('controller'),
            );
          }
          expect(
            c().api.denials.filter((d) => d.user.includes(':ambit-')),
            "the release's service accounts were refused by RBAC",
          ).toEqual([]);
          // Each node's CNI installer removed the readiness taint once its agent answered.
          const taint = nodeReadinessTaint(c().chart.objects);
          if (taint)
            await c().waitFor(
              `the ${taint} taint to leave both nodes`,
              40_000,
              () => c().nodes.every((n) => !nodeTaints(c(), n.name).includes(taint)),
              (id) => id.includes('agent'),
            );
        },
        BOOT_MS + 20_000,
      );

      if (profile !== FULL_PROFILE) return;

      it("each node's agent enrols the pods created on it through the API", async () => {
        await createApp(c());
        for (const [node, pods] of [
          ['node-a', ['client-a', 'intruder-a']],
          ['node-b', ['server-b']],
        ] as const) {
          await c().waitFor(
            `${node}'s agent to enrol ${pods.join(', ')} with certificates`,
            40_000,
            async () => {
              const dump = await agentDump(c(), node);
              const enrolled = new Set(dump.pods?.map((p) => `${p.namespace}/${p.name}`));
              const certs = new Set(dump.certificates?.map((x) => x.identity));
              const identities = pods.map(
                (p) => `spiffe://cluster.local/ns/${APP_NAMESPACE}/sa/${p.replace(/-[ab]$/, '')}`,
              );
              return (
                pods.every((p) => enrolled.has(`${APP_NAMESPACE}/${p}`)) && identities.every((id) => certs.has(id))
              );
            },
            onNode(node),
          );
        }
        const a = await agentDump(c(), 'node-a');
        expect(
          a.pods?.some((p) => p.name === 'server-b'),
          "node-a's agent must not hold node-b's pod",
        ).toBe(false);
        expect(
          a.pods?.some((p) => p.name === 'plain-a'),
          'a pod labelled mesh-mode=none is not enrolled',
        ).toBe(false);
      }, 60_000);

      it('a pod created before the nodes were ready waited Pending, then was scheduled and captured', async () => {
        expect(earlyPodWhileTainted, 'both nodes were tainted when the early pod was created').toBe(true);
        expect(
          c().events.some((e) => e.endsWith(`scheduler: ${EARLY}/${EARLY} pending: no node whose taints it tolerates`)),
        ).toBe(true);
        const node = await c().waitFor(
          'the early pod to be scheduled',
          40_000,
          () =>
            (c().api.getObject('Pod', EARLY, EARLY) as { spec?: { nodeName?: string } } | undefined)?.spec?.nodeName,
          (id) => id.includes('agent'),
        );
        await c().waitFor(
          `${node}'s agent to enrol the early pod`,
          40_000,
          async () => (await agentDump(c(), node)).pods?.some((p) => p.name === EARLY) ?? false,
          onNode(node),
        );
      }, 90_000);

      it('a pod on node-a talks to a pod on node-b over HBONE with mutual TLS, agent to agent, checked on the wire', async () => {
        const client = c().pod(APP_NAMESPACE, 'client-a')!;
        const secret = marker();
        await c().waitFor(
          'client-a → server (node-b)',
          20_000,
          async () => (await request(c(), client, `/warmup`)).status === 200,
          onNode('node-a'),
        );
        const capture = await captureInterNode(c());
        const answer = await request(c(), client, `/hello?${secret}`);
        const wire = await capture.stop();
        expect(answer.status, answer.error).toBe(200);
        expect(JSON.parse(answer.body)).toMatchObject({ pod: 'server-b', path: `/hello?${secret}` });
        expect(wire.summary, "the request crosses the inter-node link to node-b's HBONE port").toMatch(/\.15008[:,\s]/);
        expect(hasTlsRecords(wire.bytes), 'TLS records on the inter-node link').toBe(true);
        expect(wire.bytes.includes(Buffer.from(secret)), 'the plaintext request must not cross the link').toBe(false);
        expect(wire.summary, 'no plaintext app traffic between the nodes').not.toMatch(/\.8080[:,\s]/);
        // The same capture does see an unmeshed pod's request in plaintext: the check above can fail.
        const plain = c().pod(APP_NAMESPACE, 'plain-a')!;
        const visible = marker();
        const control = await captureInterNode(c());
        const plainAnswer = await request(c(), plain, `/hello?${visible}`);
        const plainWire = await control.stop();
        expect(plainAnswer.status, plainAnswer.error).toBe(200);
        expect(plainWire.bytes.includes(Buffer.from(visible)), 'an unmeshed request is visible on the link').toBe(true);
      }, 40_000);

      it("node-a's agent cannot obtain a certificate for a pod that runs only on node-b", async () => {
        const server = `spiffe://cluster.local/ns/${APP_NAMESPACE}/sa/server`;
        const client = `spiffe://cluster.local/ns/${APP_NAMESPACE}/sa/client`;
        // The same token and call succeed for a pod of its own node: the refusal below is about the node.
        expect(await signWithAgentToken(c(), 'node-a', client, 'node-a')).toContain('BEGIN CERTIFICATE');
        // Refused as node-a (PERMISSION_DENIED), not for a broken request.
        await expect(signWithAgentToken(c(), 'node-a', server, 'node-a')).rejects.toThrow(
          /PERMISSION_DENIED: .*node-a/,
        );
        // Claiming node-b does not help: the CA takes the node from the pod the token is bound to.
        await expect(signWithAgentToken(c(), 'node-a', server, 'node-b')).rejects.toThrow(
          /PERMISSION_DENIED: .*node-a/,
        );
        // node-b's agent, with its own token, may.
        expect(await signWithAgentToken(c(), 'node-b', server, 'node-b')).toContain('BEGIN CERTIFICATE');
      }, 30_000);

      it('an AuthorizationPolicy applied through the API is enforced', async () => {
        const client = c().pod(APP_NAMESPACE, 'client-a')!;
        const intruder = c().pod(APP_NAMESPACE, 'intruder-a')!;
        expect((await request(c(), intruder, '/before')).status, 'without a policy the intruder gets through').toBe(
          200,
        );
        await c().kubectl('POST', l4Policy());
        await c().waitFor(
          'the policy to refuse the intruder',
          20_000,
          async () => (await request(c(), intruder, '/after')).status !== 200,
          ambitContainer,
        );
        expect((await request(c(), client, '/after')).status, 'the allowed caller still gets through').toBe(200);
        await c().kubectl('DELETE', l4Policy());
        await c().waitFor(
          'the intruder to get through again',
          20_000,
          async () => (await request(c(), intruder, '/again')).status === 200,
          ambitContainer,
        );
      }, 60_000);

      it('the ingress gateway serves an Istio Gateway of its namespace, routing into the mesh', async () => {
        for (const o of ingressObjects(RELEASE_NAMESPACE)) await c().kubectl('POST', o);
        const gateway = c().pod(RELEASE_NAMESPACE, 'ambit-ingressgateway');
        expect(gateway?.ip, c().describe(ambitContainer)).toBeTruthy();
        // From outside the mesh (plain-a is opted out), to the gateway pod's port 80.
        const plain = c().pod(APP_NAMESPACE, 'plain-a')!;
        await c().waitFor(
          'the ingress gateway to route shop.example.com to the server',
          40_000,
          async () => (await requestViaGateway(c(), plain, gateway!.ip, '/ingress')).status === 200,
          ambitContainer,
        );
        const answer = await requestViaGateway(c(), plain, gateway!.ip, '/ingress');
        expect(JSON.parse(answer.body)).toMatchObject({ pod: 'server-b', path: '/ingress' });
        // A host no Gateway server names: 404 from the gateway itself.
        const other = await c().exec(plain, [
          'curl',
          '-sS',
          '-m',
          '5',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://${gateway!.ip}/`,
        ]);
        expect(other.stdout.trim()).toBe('404');
        for (const o of ingressObjects(RELEASE_NAMESPACE)) await c().kubectl('DELETE', o);
      }, 60_000);

      it('a waypoint Gateway makes the controller create a waypoint Deployment whose container serves L7 policy between the nodes', async () => {
        const api = c().api;
        // What `ambitctl waypoint apply -n shop` writes: the Gateway, then the namespace label.
        await c().kubectl('POST', waypointGateway(APP_NAMESPACE, 'waypoint') as FakeObject);
        const ns = api.getObject('Namespace', APP_NAMESPACE)!;
        await c().kubectl('PUT', {
          ...ns,
          metadata: { ...ns.metadata, labels: { ...ns.metadata.labels, 'mesh-waypoint': 'waypoint' } },
        });
        await c().waitFor(
          'the controller to create Deployment shop/waypoint',
          20_000,
          () => api.getObject('Deployment', 'waypoint', APP_NAMESPACE),
          (id) => id.includes('controller'),
        );
        await c().waitFor(
          'the waypoint pod (node-b) to be Ready',
          40_000,
          () => c().pod(APP_NAMESPACE, 'waypoint', 'node-b')?.ready,
          ambitContainer,
        );
        await c().kubectl('POST', l7Policy());
        const client = c().pod(APP_NAMESPACE, 'client-a')!;
        await c().waitFor(
          'the waypoint to answer 403 for /admin',
          30_000,
          async () => (await request(c(), client, '/admin/x')).status === 403,
          ambitContainer,
        );
        const denied = await request(c(), client, '/admin/x');
        expect(denied.body).toContain('RBAC: access denied');
        const allowed = await request(c(), client, '/shop');
        expect(allowed.status, allowed.error).toBe(200);
        expect(JSON.parse(allowed.body)).toMatchObject({ pod: 'server-b', path: '/shop' });
        const waypoint = c().pod(APP_NAMESPACE, 'waypoint')!;
        expect(
          [...waypoint.containers.values()].every((x) => x.running && x.restarts === 0),
          c().describe(ambitContainer),
        ).toBe(true);
      }, 100_000);

      it('two controller replicas: one leads; when its pod goes, another takes the lease and reconciles a new waypoint', async () => {
        const api = c().api;
        type LeaseSpec = { holderIdentity?: string; leaseTransitions?: number };
        const lease = (): LeaseSpec =>
          (api.getObject('Lease', 'ambit-controller', RELEASE_NAMESPACE, 'coordination.k8s.io')?.spec ??
            {}) as LeaseSpec;
        const holder = await c().waitFor('a leader', 20_000, () => lease().holderIdentity || undefined);
        const leader = c()
          .containers()
          .find(
            (x) =>
              x.id.includes('/ambit-controller') &&
              x.container.tail(2000).includes(`"msg":"became the leader"`) &&
              x.container.tail(2000).includes(`"identity":"${holder}"`),
          );
        expect(leader, `the controller holding the lease (${holder})`).toBeDefined();
        const podName = leader!.id.split('/')[1]!;
        await c().kubectl('DELETE', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: podName, namespace: RELEASE_NAMESPACE },
        } as FakeObject);
        await c().waitFor(
          'another replica to take the lease',
          60_000,
          () => (lease().holderIdentity ?? '') !== '' && lease().holderIdentity !== holder,
          (id) => id.includes('controller'),
        );
        await c().kubectl('POST', waypointGateway(APP_NAMESPACE, 'waypoint2') as FakeObject);
        await c().waitFor(
          'the new leader to create Deployment shop/waypoint2',
          30_000,
          () => api.getObject('Deployment', 'waypoint2', APP_NAMESPACE),
          (id) => id.includes('controller'),
        );
        await c().kubectl('DELETE', waypointGateway(APP_NAMESPACE, 'waypoint2') as FakeObject);
        await c().waitFor(
          'Deployment shop/waypoint2 to go',
          30_000,
          () => !api.getObject('Deployment', 'waypoint2', APP_NAMESPACE),
          (id) => id.includes('controller'),
        );
      }, 120_000);

      it('components retry an unreachable API server and controller with backoff; none exits', async () => {
        const cl = c();
        const block = async (on: boolean): Promise<void> => {
          for (const n of cl.nodes) {
            for (const chain of ['FORWARD', 'OUTPUT']) {
              await must('ip', [
                'netns',
                'exec',
                n.netns,
                'iptables',
                '-w',
                on ? '-I' : '-D',
                chain,
                '-d',
                `${cl.apiServerIp}/32`,
                '-p',
                'tcp',
                '--dport',
                '443',
                '-j',
                'REJECT',
                '--reject-with',
                'tcp-reset',
              ]);
            }
          }
        };
        await block(true);
        // A new controller starts while the API server cannot be reached; the agents lose theirs.
        const old = cl.api
          .listObjects('Pod', RELEASE_NAMESPACE)
          .filter((x) => x.metadata.name.startsWith('ambit-controller'))
          .map((x) => x.metadata.name);
        for (const name of old)
          await cl.kubectl('DELETE', {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, namespace: RELEASE_NAMESPACE },
          });
        const isNew = (id: string): boolean =>
          id.includes('/ambit-controller') && !old.some((name) => id.includes(`/${name}/`));
        const fresh = await cl.waitFor('a new controller container', 20_000, () =>
          cl.containers().find((x) => isNew(x.id) && x.container.running),
        );
        await new Promise((r) => setTimeout(r, 8000));
        const agents = cl
          .containers()
          .filter((x) => (x.id.includes('/ambit-agent') && x.id.endsWith('/agent')) || x.id.endsWith('/waypoint'));
        expect(agents.length).toBe(3);
        for (const x of [fresh, ...agents]) {
          expect(
            x.container.running && x.container.restarts === 0,
            `${x.id} must keep running while the API server or controller is unreachable:\n${cl.describe(ambitContainer)}`,
          ).toBe(true);
        }
        expect(fresh.container.tail(200), 'the controller says that it retries').toMatch(/retry|retrying|backoff/i);
        for (const x of agents)
          expect(x.container.tail(200), `${x.id} says that it reconnects`).toMatch(/retry|retrying|reconnect/i);
        await block(false);
        await cl.waitFor(
          'the new controller to get ready once the API server is back',
          40_000,
          () => cl.pod(RELEASE_NAMESPACE, 'ambit-controller')?.ready,
          ambitContainer,
        );
        const client = cl.pod(APP_NAMESPACE, 'client-a')!;
        await cl.waitFor(
          'traffic to still flow after the controller came back',
          20_000,
          async () => (await request(cl, client, '/after-outage')).status === 200,
          ambitContainer,
        );
        for (const x of agents) expect(x.container.restarts, `${x.id} restarted`).toBe(0);
      }, 90_000);
    });
  }
});
