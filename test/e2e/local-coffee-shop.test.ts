// `ambitctl local up` on examples/coffee-shop, as a user runs it (the built CLI as a child
// process): wait for `ready`, curl from order-service to payment-service (allowed by the
// AuthorizationPolicy) and from inventory-service (denied: the namespace's waypoint answers
// 403 `RBAC: access denied`, CONTRACT.md), then SIGTERM and check that no netns, link, /etc/netns file, iptables rule or process is
// left. Own bridge, pod CIDR, netns prefix and node ports, so it runs beside other suites.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
const BRIDGE = 'ambt-h9-br0';
const CIDR = '10.239.19.0/24';
const PREFIX = 'ambt-h9-';
const PORT_OFFSET = '930';

/** `ambitctl local <sub> --state-dir D <args…>` (the option before any `--`). */
const ctl = (stateDir: string, sub: string, ...args: string[]) =>
  sh(process.execPath, [CTL, 'local', sub, '--state-dir', stateDir, ...args]);
const ours = (text: string) =>
  text.split('\n').filter((l) => l.includes(PREFIX) || l.includes(BRIDGE) || l.includes(CIDR.replace(/\.0\/24$/, '.')));

describeNetns('ambitctl local up: the coffee-shop on one machine', () => {
  let stateDir: string;
  let mesh: LocalMesh;
  let iptablesBefore: string[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'ambt-h9-state-'));
    iptablesBefore = ours((await sh('iptables-save', [])).stdout);
    mesh = new LocalMesh({
      dir: path.join(REPO, 'examples', 'coffee-shop'),
      stateDir,
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: Number(PORT_OFFSET),
    });
    await mesh.start();
  }, 180_000);

  afterAll(async () => {
    await mesh.stop();
    await mesh.down();
    await rm(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('runs every pod of the example enrolled, in its own netns', async () => {
    const netns = (await sh('ip', ['netns', 'list'])).stdout;
    for (const pod of [
      'order-service-0',
      'payment-service-0',
      'inventory-service-0',
      'customer-service-v1-0',
      'customer-service-v2-0',
      'web-frontend-0',
      'waypoint-waypoint',
    ]) {
      expect(netns).toContain(`${PREFIX}coffee-shop-${pod}`);
    }
    const dump = (await (await fetch(`http://127.0.0.1:${15000 + Number(PORT_OFFSET)}/config_dump`)).json()) as {
      pods: Array<{ name: string; identity: string }>;
    };
    expect(dump.pods.find((p) => p.name === 'payment-service-0')?.identity).toBe(
      'spiffe://cluster.local/ns/coffee-shop/sa/payment-service',
    );
  });

  it('lets order-service call payment-service by its Service name (allowed by the AuthorizationPolicy)', async () => {
    const res = await ctl(
      stateDir,
      'exec',
      'order-service-0',
      '--',
      'curl',
      '-sS',
      '-m',
      '10',
      'http://payment-service:8080/pay',
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const body = JSON.parse(res.stdout) as { service: string; pod: string; caller: { address: string } };
    expect(body.service).toBe('payment-service');
    expect(body.pod).toBe('payment-service-0');
    expect(body.caller.address).toMatch(/10\.239\.19\.\d+:\d+$/); // the app sees the client pod's IP
  }, 60_000);

  it('refuses inventory-service → payment-service (the waypoint answers 403 RBAC: access denied)', async () => {
    const res = await ctl(
      stateDir,
      'exec',
      '-n',
      'coffee-shop',
      'inventory-service',
      '--',
      'curl',
      '-sS',
      '-m',
      '10',
      '-w',
      '\n%{http_code}',
      'http://payment-service.coffee-shop.svc.cluster.local:8080/pay',
    );
    expect(res.code).toBe(0);
    expect(res.stdout).not.toContain('payment-service-0');
    expect(res.stdout.trim().split('\n')).toEqual(['RBAC: access denied', '403']);
    // The waypoint's admin and metrics: 127.0.0.1:15100 (+ the port offset) for the first waypoint.
    const metrics = await (await fetch(`http://127.0.0.1:${15100 + Number(PORT_OFFSET)}/metrics`)).text();
    expect(metrics).toMatch(
      /istio_requests_total\{reporter="waypoint",source_workload="inventory-service",[^}]*destination_service_name="payment-service",[^}]*response_code="403"\} [1-9]/,
    );
  }, 60_000);

  it('tears everything down on SIGTERM', async () => {
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      processes: Array<{ role: string; pid: number }>;
    };
    expect(record.processes.map((p) => p.role).sort()).toEqual([
      'agent',
      'controller',
      'gateway', // istio-ingressgateway (ingress-gateway.yaml)
      'pod',
      'pod',
      'pod',
      'pod',
      'pod',
      'pod',
      'pod', // external-api, the host outside the mesh (egress.yaml)
      'waypoint',
    ]);
    const pids = record.processes.map((p) => p.pid);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true);
    const code = await mesh.stop();
    expect(code).toBe(0);
    expect(ours((await sh('ip', ['netns', 'list'])).stdout)).toEqual([]);
    expect(ours((await sh('ip', ['-o', 'link', 'show'])).stdout)).toEqual([]);
    expect(ours((await sh('ip', ['-o', 'route', 'show'])).stdout)).toEqual([]);
    expect(ours((await sh('iptables-save', [])).stdout)).toEqual(iptablesBefore);
    expect((await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(PREFIX))).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `process ${pid} left behind`).toBe(false);
    expect((await sh('pgrep', ['-f', stateDir])).stdout.trim()).toBe('');
    expect(existsSync(path.join(stateDir, 'local.json'))).toBe(false);
    expect(mesh.stderr).toMatch(/"msg":"torn down".*"problems":0/);
  }, 60_000);
});
