// End to end without network namespaces: the controller (file source over a temp folder)
// and a discovery client over real gRPC + TLS, plus the CA service on the same port.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { setLogSink } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import { Controller } from '../../controller/controller.js';
import { FileSource } from '../../controller/sources/file.js';
import { nodeTokenFileAuthenticator } from '../../controller/ca/auth.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'a'.repeat(32);
const BASE = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: web, namespace: shop }
---
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, labels: { app: web } }
spec: { serviceAccountName: web, containers: [{ name: web, image: x }] }
---
apiVersion: v1
kind: Pod
metadata: { name: remote, namespace: shop, labels: { app: remote } }
spec: { serviceAccountName: remote, nodeName: node-b, containers: [{ name: remote, image: x }] }
`;
const policy = (principal: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-evil
  namespace: shop
spec:
  action: DENY
  rules:
  - from:
    - source:
        principals: ["${principal}"]
`;

describe('controller end to end (file source → translate → push → xds client)', () => {
  let dir: string;
  let stateDir: string;
  let ca: CertificateAuthority;
  let controller: Controller | undefined;
  let client: XdsMeshSource | undefined;
  const logs: string[] = [];

  const startController = async (grpcPort = 0) => {
    controller = await Controller.start({
      source: new FileSource({ path: dir, debounceMs: 20 }),
      ca,
      authenticate: nodeTokenFileAuthenticator(path.join(stateDir, 'node-tokens')),
      localNode: 'node-a',
      host: '127.0.0.1',
      grpcPort,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 30,
      pushDebounceMs: 30,
    });
    await waitFor(() => controller!.isReady(), 'controller ready');
    return controller;
  };
  const startClient = async (port: number, snapshots: MeshSnapshot[]) => {
    client = new XdsMeshSource({
      address: `127.0.0.1:${port}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: controller!.identity,
      token: TOKEN,
      node: { name: 'node-a', role: 'agent' },
      backoff: { initialMs: 50, maxMs: 300 },
    });
    await client.start((s) => {
      snapshots.push(s);
      return [];
    });
    await client.whenSynced();
  };
  const principalsOf = (s: MeshSnapshot | undefined) =>
    s?.authorizationPolicies.find((p) => p.name === 'deny-evil')?.rules[0]?.from?.[0]?.principals;

  beforeAll(() => setLogSink({ write: (line: string) => logs.push(line) }));
  afterAll(() => setLogSink(process.stderr));
  afterEach(async () => {
    await client?.stop();
    await controller?.stop();
    client = undefined;
    controller = undefined;
    await rm(dir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  const setup = async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-ctl-cfg-'));
    stateDir = await mkdtemp(path.join(tmpdir(), 'ambit-ctl-state-'));
    await writeFile(path.join(stateDir, 'node-tokens'), `${TOKEN} node-a\n`);
    ca = await CertificateAuthority.loadOrCreate(stateDir);
    await writeFile(path.join(dir, 'base.yaml'), BASE);
    await writeFile(path.join(dir, 'policy.yaml'), policy('cluster.local/ns/shop/sa/evil'));
  };
  beforeAll(() => {
    logs.length = 0;
  });

  it('pushes a changed policy file to the client, and serves readiness and metrics', async () => {
    await setup();
    const c = await startController();
    const snapshots: MeshSnapshot[] = [];
    await startClient(c.ports.grpc, snapshots);
    expect(principalsOf(snapshots.at(-1))).toEqual(['cluster.local/ns/shop/sa/evil']);
    expect(
      snapshots
        .at(-1)!
        .workloads.map((w) => [w.name, w.node])
        .sort(),
    ).toEqual([
      ['remote', 'node-b'],
      ['web', 'node-a'],
    ]);

    const changedAt = Date.now();
    await writeFile(path.join(dir, 'policy.yaml'), policy('cluster.local/ns/shop/sa/mallory'));
    await waitFor(
      () => principalsOf(snapshots.at(-1))?.[0] === 'cluster.local/ns/shop/sa/mallory',
      'new policy at the client',
    );
    logs.push(JSON.stringify({ msg: 'e2e: policy change reached the client', ms: Date.now() - changedAt }));

    const ready = await fetch(`http://127.0.0.1:${c.ports.ready}/healthz/ready`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${c.ports.metrics}/metrics`)).text();
    expect(metrics).toMatch(/ambit_pushes_total\{type="ambit.mesh\/AuthorizationPolicy"\} [1-9]/);
    expect(metrics).toMatch(/ambit_connected_clients\{role="agent"\} 1/);
  });

  it('rejects a broken file with its line and keeps serving the old config', async () => {
    await setup();
    const c = await startController();
    const snapshots: MeshSnapshot[] = [];
    await startClient(c.ports.grpc, snapshots);
    const before = snapshots.length;
    await writeFile(
      path.join(dir, 'policy.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-evil\n  namespace: shop\nspec: [unclosed\n',
    );
    const line = await waitFor(
      () => logs.find((l) => l.includes('input rejected') && l.includes('policy.yaml')),
      'parse error logged',
    );
    const rec = JSON.parse(line) as { level: string; file: string; line?: number; err: string };
    expect(rec.level).toBe('warn');
    expect(rec.line).toBeGreaterThan(0);
    // a translate-level rejection names kind/ns/name: field: reason
    await writeFile(
      path.join(dir, 'bad-action.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: odd, namespace: shop }\nspec: { action: MAYBE }\n',
    );
    const rejected = await waitFor(
      () => logs.find((l) => l.includes('object rejected') && l.includes('AuthorizationPolicy/shop/odd')),
      'rejection logged',
    );
    expect(JSON.parse(rejected).rejection).toMatch(/^AuthorizationPolicy\/shop\/odd: [^:]*action[^:]*: /);
    // a kind Ambit reads but does not apply is named in the log, not skipped silently
    await writeFile(
      path.join(dir, 'envoyfilter.yaml'),
      'apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: { name: lua, namespace: shop }\nspec: { configPatches: [] }\n',
    );
    const notApplied = await waitFor(
      () => logs.find((l) => l.includes('not applied') && l.includes('EnvoyFilter/shop/lua')),
      'EnvoyFilter named',
    );
    expect(JSON.parse(notApplied).reason).toMatch(/WasmPlugin/);
    expect(principalsOf(c.current?.snapshot)).toEqual(['cluster.local/ns/shop/sa/evil']);
    expect(principalsOf(snapshots.at(-1))).toEqual(['cluster.local/ns/shop/sa/evil']);
    expect(snapshots.length - before).toBeLessThanOrEqual(1);
  });

  it('keeps serving the last good version of an object whose edit is rejected', async () => {
    await setup();
    const c = await startController();
    const snapshots: MeshSnapshot[] = [];
    await startClient(c.ports.grpc, snapshots);
    await writeFile(
      path.join(dir, 'policy.yaml'),
      policy('cluster.local/ns/shop/sa/mallory').replace('action: DENY', 'action: MAYBE'),
    );
    await waitFor(
      () => logs.find((l) => l.includes('object rejected') && l.includes('AuthorizationPolicy/shop/deny-evil')),
      'rejection of the edit',
    );
    await waitFor(
      () =>
        logs.find(
          (l) => l.includes('keeping the last good version') && l.includes('AuthorizationPolicy/shop/deny-evil'),
        ),
      'last good kept',
    );
    expect(principalsOf(c.current?.snapshot)).toEqual(['cluster.local/ns/shop/sa/evil']);
    expect(principalsOf(snapshots.at(-1))).toEqual(['cluster.local/ns/shop/sa/evil']);
    // fixed: the new version replaces it
    await writeFile(path.join(dir, 'policy.yaml'), policy('cluster.local/ns/shop/sa/mallory'));
    await waitFor(
      () => principalsOf(snapshots.at(-1))?.[0] === 'cluster.local/ns/shop/sa/mallory',
      'fixed policy served',
    );
    // deleting it removes it (a last good version is not kept for deleted objects)
    await rm(path.join(dir, 'policy.yaml'));
    await waitFor(() => snapshots.at(-1)!.authorizationPolicies.length === 0, 'policy removed');
  });

  it('the client keeps its config while the controller is down and catches up when it is back', async () => {
    await setup();
    const c = await startController();
    const port = c.ports.grpc;
    const snapshots: MeshSnapshot[] = [];
    await startClient(port, snapshots);
    await c.stop();
    controller = undefined;
    await waitFor(
      () => !client!.status().connected && client!.status().reconnects > 0,
      'client noticed the controller is gone',
    );
    expect(principalsOf(snapshots.at(-1))).toEqual(['cluster.local/ns/shop/sa/evil']);
    await writeFile(path.join(dir, 'policy.yaml'), policy('cluster.local/ns/shop/sa/mallory'));
    const rootBefore = ca.rootsPem;
    ca = await CertificateAuthority.loadOrCreate(stateDir); // the restarted controller reloads its persisted root
    expect(ca.rootsPem).toBe(rootBefore);
    await startController(port);
    await waitFor(
      () => principalsOf(snapshots.at(-1))?.[0] === 'cluster.local/ns/shop/sa/mallory',
      'catch-up after reconnect',
    );
  });

  it('refuses discovery clients without a valid token for their node', async () => {
    await setup();
    const c = await startController();
    const attempts = [
      { token: undefined, name: 'node-a', expect: /no "authorization/ },
      { token: 'b'.repeat(32), name: 'node-a', expect: /token refused/ },
      { token: TOKEN, name: 'node-b', expect: /token of node node-a cannot subscribe as node node-b/ },
    ];
    for (const a of attempts) {
      const src = new XdsMeshSource({
        address: `127.0.0.1:${c.ports.grpc}`,
        rootsPem: ca.rootsPem,
        controllerIdentity: c.identity,
        node: { name: a.name, role: 'agent' },
        backoff: { initialMs: 50, maxMs: 300 },
        ...(a.token ? { token: a.token } : {}),
      });
      try {
        await src.start(() => []);
        await waitFor(() => src.status().reconnects > 0, 'refusal');
        expect(src.status().synced).toBe(false);
        expect(src.status().lastError).toMatch(a.expect);
      } finally {
        await src.stop();
      }
    }
  });

  it("signs certificates only for service accounts of pods on the agent's node", async () => {
    await setup();
    const c = await startController();
    const caClient = createGrpcCaClient({
      address: `127.0.0.1:${c.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token: TOKEN,
      nodeName: 'node-a',
      serverIdentity: c.identity,
    });
    try {
      const key = await generateWorkloadKey();
      const own = 'spiffe://cluster.local/ns/shop/sa/web';
      const signed = await caClient.sign({ csrPem: createCsr(own, key.privateKey), identity: own, ttlSeconds: 3600 });
      expect(signed.certChainPem).toContain('BEGIN CERTIFICATE');
      const other = 'spiffe://cluster.local/ns/shop/sa/remote';
      await expect(
        caClient.sign({ csrPem: createCsr(other, key.privateKey), identity: other, ttlSeconds: 3600 }),
      ).rejects.toThrow(/node-a may not obtain certificates/);
      const metrics = await (await fetch(`http://127.0.0.1:${c.ports.metrics}/metrics`)).text();
      expect(metrics).toMatch(/ambit_certificates_issued_total 1/);
      expect(await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8')).toBe(ca.rootsPem);
    } finally {
      caClient.close();
    }
  });
});
