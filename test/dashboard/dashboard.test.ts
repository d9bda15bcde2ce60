// The dashboard and the Grafana dashboards against a running coffee-shop (one `local up`):
// - `ambitctl dashboard` scraping the local mesh, opened in Debian's headless chromium
//   (puppeteer-core, no browser download): the coffee-shop's edges with their mTLS locks, the
//   denied inventory-service → payment-service edge red, a policy applied with `local apply`
//   visible within 5 s; a screenshot is kept (its path is printed);
// - Debian's prometheus scraping the agent, the waypoint and the controller every second:
//   every panel query of every dashboard in deploy/grafana/ parses and returns data;
// - `ambitctl dashboard --prometheus URL` draws the same edges from Prometheus;
// - each Istio label has one meaning across the agent and the waypoint, and promtool finds
//   nothing on their /metrics but Istio's own istio_request_duration_milliseconds unit.
// Traffic: a curl loop pod (the traffic generator) and a loop inside inventory-service
// calling payment-service, which the AuthorizationPolicy denies.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
import { pollUntil, sleep } from '../support/wait.js';
import { freePort } from '../support/net.js';

// The page's globals, inside page.evaluate / waitForFunction callbacks (tsconfig has no DOM lib).
declare const window: unknown;
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

const BRIDGE = 'ambt-h8-br0';
const CIDR = '10.239.88.0/24';
const PREFIX = 'ambt-h8-';
const OFFSET = 1880;
const PORTS = { agentMetrics: 15020 + OFFSET, controllerMetrics: 15014 + OFFSET, waypoint: 15100 + OFFSET };
const NS = 'coffee-shop';
const DENIED_EDGE = `wl:${NS}/inventory-service->svc:${NS}/payment-service`;
const RED = 'rgb(211,51,51)';
const CHROMIUM = '/usr/bin/chromium';
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';

/** `promtool check metrics` over `text`: its findings (stdout and stderr). */
function promtool(text: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, ['check', 'metrics'], (_err, stdout, stderr) => resolve(stdout + stderr));
    child.stdin!.end(text);
  });
}

interface Edge {
  id: string;
  source: string;
  target: string;
  rps: number;
  errorRate: number;
  p99Ms: number | null;
  mtls: boolean;
  denied: number;
  via?: string;
}
interface GraphAnswer {
  nodes: Array<{ id: string; type: string }>;
  edges: Edge[];
}

const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> =>
  pollUntil(probe, { what, timeoutMs, intervalMs: 500 });

/** A child in its own process group (its children die with it); `lines` collects stdout. */
function start(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): { child: ChildProcess; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return { child, out: () => out, err: () => err };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    /* gone */
  }
  await Promise.race([exited, sleep(5000)]);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
}

async function startDashboard(stateDir: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const d = start(process.execPath, [
    CTL,
    'dashboard',
    '--port',
    '0',
    '--state-dir',
    stateDir,
    '--interval',
    '1000',
    ...extra,
  ]);
  const url = await until(
    'the dashboard URL',
    30_000,
    async () => /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(d.out())?.[1],
  );
  return { child: d.child, url };
}

const getGraph = async (url: string, window = '1m'): Promise<GraphAnswer> =>
  (await fetch(`${url}api/graph?window=${window}`)).json() as Promise<GraphAnswer>;

const GENERATOR = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: traffic-generator, namespace: ${NS} }
---
apiVersion: v1
kind: Pod
metadata:
  name: traffic-generator
  namespace: ${NS}
  labels: { app: traffic-generator }
spec:
  serviceAccountName: traffic-generator
  containers:
    - name: curl
      command:
        - sh
        - -c
        - >-
          while :; do curl -s -o /dev/null -m 5 http://web-frontend:8080/order;
          curl -s -o /dev/null -m 5 http://customer-service:8080/profile; sleep 0.2; done
`;

/** A new DENY policy: the traffic generator may no longer call customer-service. */
const DENY = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-generator-to-customer
  namespace: ${NS}
spec:
  selector:
    matchLabels: { app: customer-service }
  action: DENY
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/${NS}/sa/traffic-generator"]
`;

describeNetns('ambitctl dashboard and the Grafana dashboards on the coffee-shop', () => {
  let work: string;
  let stateDir: string;
  let mesh: LocalMesh;
  let dashboard: { child: ChildProcess; url: string } | undefined;
  let caller: ReturnType<typeof start> | undefined;
  let prometheus: ReturnType<typeof start> | undefined;
  let promUrl = '';
  let waypointMetricsPort: number = PORTS.waypoint;
  /** The namespace waypoint's host port as `local up` recorded it (gateways take ports of that range too). */
  const waypointPort = async (): Promise<number> => {
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      waypoints?: Array<{ namespace: string; name: string; port: number }>;
    };
    return record.waypoints?.find((w) => w.namespace === NS && w.name === 'waypoint')?.port ?? PORTS.waypoint;
  };
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-h8-dashboard-'));
    console.log(`dashboard test: run output in ${work}`);
    stateDir = path.join(work, 'state');
    const dir = path.join(work, 'coffee-shop');
    await cp(path.join(REPO, 'examples', NS), dir, { recursive: true });
    await writeFile(path.join(dir, 'traffic-generator.yaml'), GENERATOR);
    mesh = new LocalMesh({ dir, stateDir, bridge: BRIDGE, cidr: CIDR, prefix: PREFIX, portOffset: OFFSET });
    await mesh.start();
    // The denied caller: inventory-service keeps calling payment-service (403 from the waypoint).
    caller = start(process.execPath, [
      CTL,
      'local',
      'exec',
      '--state-dir',
      stateDir,
      '-n',
      NS,
      'inventory-service',
      '--',
      'sh',
      '-c',
      'while :; do curl -s -o /dev/null -m 5 http://payment-service:8080/pay; sleep 0.5; done',
    ]);
    dashboard = await startDashboard(stateDir);
  }, 240_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stop(dashboard?.child);
    await stop(caller?.child);
    await stop(prometheus?.child);
    await mesh?.stop();
    await mesh?.down();
    if (work) await rm(path.join(work, 'state'), { recursive: true, force: true });
  }, 120_000);

  it("serves GET /api/graph: the coffee-shop's edges (mTLS, through the waypoint), the denied caller's", async () => {
    const g = await until('traffic on the graph', 60_000, async () => {
      const g = await getGraph(dashboard!.url);
      const has = (s: string, t: string) =>
        g.edges.find((e) => e.source === `wl:${NS}/${s}` && e.target === `svc:${NS}/${t}` && e.rps > 0);
      return has('web-frontend', 'order-service') &&
        has('order-service', 'payment-service') &&
        g.edges.find((e) => e.id === DENIED_EDGE && e.denied > 0)
        ? g
        : undefined;
    });
    for (const [s, t] of [
      ['web-frontend', 'order-service'],
      ['web-frontend', 'customer-service'],
      ['order-service', 'payment-service'],
      ['order-service', 'inventory-service'],
    ]) {
      const e = g.edges.find((x) => x.id === `wl:${NS}/${s}->svc:${NS}/${t}`)!;
      expect(e, `${s} → ${t}`).toMatchObject({ mtls: true, via: `wp:${NS}/waypoint`, errorRate: 0, denied: 0 });
      expect(e.p99Ms).toBeGreaterThan(0);
    }
    const denied = g.edges.find((e) => e.id === DENIED_EDGE)!;
    expect(denied.errorRate).toBe(1);
    expect(g.nodes.find((n) => n.id === `wp:${NS}/waypoint`)?.type).toBe('waypoint');
    expect(g.nodes.find((n) => n.id === `ns:${NS}`)?.type).toBe('namespace');
    expect((await fetch(`${dashboard!.url}api/graph?window=2h`)).status).toBe(400);
    // The namespace filter.
    const only = async (ns: string) =>
      ((await (await fetch(`${dashboard!.url}api/graph?window=15m&namespace=${ns}`)).json()) as GraphAnswer).edges;
    expect(await only('no-such-namespace')).toEqual([]);
    expect((await only(NS)).some((e) => e.id === DENIED_EDGE)).toBe(true);
  }, 90_000);

  it('draws them in headless chromium: locks on the edges, the denied edge red, a new policy within 5 s', async () => {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${await mkdtemp(path.join(work, 'chromium-'))}`,
      ],
    });
    page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1400, height: 850 });
    await page.goto(dashboard!.url);
    // Every edge of the mesh carries a lock; the denied caller's is red with its count.
    const edges = await until('the graph in the page', 30_000, async () => {
      const list = await page.evaluate(() => {
        type El = { id(): string; data(k: string): unknown; style(k: string): string; nonempty(): boolean };
        const w = window as unknown as {
          ambit?: { cy: { edges(): El[]; getElementById(id: string): El }; lockIcon: string };
        };
        const cy = w.ambit?.cy;
        return cy?.edges().map((e) => {
          const lock = cy.getElementById(`lock:${e.id()}`);
          return {
            id: e.id(),
            edgeId: String(e.data('edgeId')),
            label: String(e.data('label')),
            color: e.style('line-color'),
            mtls: e.data('mtls') === true,
            lock: lock.nonempty() ? String(lock.data('icon')) : '',
            icon: w.ambit!.lockIcon,
          };
        });
      });
      return list && list.some((e) => e.edgeId === DENIED_EDGE && e.color.replace(/ /g, '') === RED) ? list : undefined;
    });
    const labelled = edges.filter((e) => e.label !== '');
    expect(labelled.length).toBeGreaterThanOrEqual(6);
    // The lock: a padlock image drawn on each labelled segment of a mutual-TLS edge.
    for (const e of labelled) {
      expect(e.mtls, e.id).toBe(true);
      expect(e.lock, `${e.id} has no lock`).toBe(e.icon);
    }
    expect(labelled[0]!.icon).toMatch(/^data:image\/svg\+xml/);
    const denied = edges.filter((e) => e.edgeId === DENIED_EDGE);
    // Drawn through the waypoint: two segments.
    expect(denied.map((e) => e.id).sort()).toEqual([`${DENIED_EDGE}#from-waypoint`, `${DENIED_EDGE}#to-waypoint`]);
    for (const e of denied) expect(e.color.replace(/ /g, '')).toBe(RED);
    expect(denied.find((e) => e.label.includes('denied'))?.label).toMatch(/\d+ denied/);
    const ok = edges.find((e) => e.edgeId === `wl:${NS}/order-service->svc:${NS}/payment-service`)!;
    expect(ok.color.replace(/ /g, '')).not.toBe(RED);

    // Click customer-service: its policies, config objects and analyze findings.
    await page.evaluate((id) => {
      (window as unknown as { ambit: { cy: { getElementById(i: string): { emit(e: string): void } } } }).ambit.cy
        .getElementById(id)
        .emit('tap');
    }, `svc:${NS}/customer-service`);
    await page.waitForFunction(
      () => document.querySelector('#details-policies')?.textContent?.includes('PeerAuthentication'),
      { timeout: 10_000 },
    );
    const panel = await page.$eval('#details', (el) => el.textContent ?? '');
    expect(panel).toContain('VirtualService/coffee-shop/customer-service');
    expect(panel).toContain('DestinationRule/coffee-shop/customer-service');
    expect(panel).toContain('no problems found');
    expect(panel).not.toContain('deny-generator-to-customer');

    // A new DENY policy: the generator's edge to customer-service turns red and the clicked
    // service's policies list shows it, both within 5 s of `local apply` (once it has written
    // the policy; how long the CLI itself took is logged).
    const generatorEdge = `wl:${NS}/traffic-generator->svc:${NS}/customer-service`;
    const policyFile = path.join(work, 'deny.yaml');
    await writeFile(policyFile, DENY);
    const t0 = Date.now();
    const applied = await sh(process.execPath, [CTL, 'local', 'apply', '--state-dir', stateDir, '-f', policyFile]);
    expect(applied.code, applied.stderr).toBe(0);
    const t1 = Date.now();
    const left = () => Math.max(100, 5_000 - (Date.now() - t1));
    await page.waitForFunction(
      () => document.querySelector('#details-policies')?.textContent?.includes('deny-generator-to-customer'),
      { timeout: left(), polling: 100 },
    );
    const listed = Date.now() - t1;
    await page.waitForFunction(
      (id, red) => {
        const cy = (window as unknown as { ambit: { cy: { edges(s: string): Array<{ style(k: string): string }> } } })
          .ambit.cy;
        const segs = cy.edges(`[edgeId = "${id}"]`);
        return segs.length > 0 && segs.every((e) => e.style('line-color').replace(/ /g, '') === red);
      },
      { timeout: left(), polling: 100 },
      generatorEdge,
      RED,
    );
    const red = Date.now() - t1;
    console.log(
      `dashboard: \`local apply\` took ${t1 - t0} ms; after it, the new policy was listed in ${listed} ms ` +
        `and the edge red in ${red} ms`,
    );
    expect(Math.max(listed, red)).toBeLessThanOrEqual(5_000);

    const shot = path.join(work, 'dashboard.png');
    await page.screenshot({ path: shot });
    if (process.env.AMBIT_DASHBOARD_SCREENSHOT) await cp(shot, process.env.AMBIT_DASHBOARD_SCREENSHOT);
    console.log(`dashboard: screenshot ${shot}`);
    expect(errors).toEqual([]);
  }, 120_000);

  it('every panel query of every Grafana dashboard parses and returns data from Prometheus', async () => {
    // A plaintext connection from the host to a pod: STRICT mTLS refuses it (an L4 refusal on the agent).
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      planned: Array<{ name: string; ip: string }>;
    };
    waypointMetricsPort = await waypointPort();
    await sh('curl', [
      '-s',
      '-m',
      '2',
      `http://${record.planned.find((p) => p.name === 'payment-service-0')!.ip}:8080/`,
    ]);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const dataDir = path.join(work, 'prometheus');
    await mkdir(dataDir, { recursive: true });
    const job = (name: string, p: number) =>
      `  - job_name: ${name}\n    static_configs: [{ targets: ["127.0.0.1:${p}"] }]\n`;
    await writeFile(
      path.join(work, 'prometheus.yml'),
      'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n' +
        job('ambit-agent', PORTS.agentMetrics) +
        job('ambit-waypoint', waypointMetricsPort) +
        job('ambit-controller', PORTS.controllerMetrics),
    );
    prometheus = start(PROMETHEUS, [
      `--config.file=${path.join(work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    await until('prometheus ready', 60_000, async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined));
    const query = async (q: string) => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      return (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
    };
    // Enough scrapes for rate() over the panels' interval.
    await until('rates in prometheus', 60_000, async () => {
      const r = await query('sum(rate(istio_requests_total{reporter="waypoint"}[10s])) > 0');
      return (r.data?.result.length ?? 0) > 0 ? true : undefined;
    });
    await sleep(3000);
    // A config change, so the controller's push histogram has something in the window.
    await sh(process.execPath, [CTL, 'local', 'delete', '--state-dir', stateDir, '-f', path.join(work, 'deny.yaml')]);
    await sleep(3000);

    const vars: Record<string, string> = {
      $__rate_interval: '20s',
      $namespace: NS,
      $service: `customer-service.${NS}.svc.cluster.local`,
      $workload: 'order-service',
    };
    const files = (await readdir(path.join(REPO, 'deploy', 'grafana'))).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual([
      'ambit-control-plane.json',
      'ambit-mesh.json',
      'ambit-service.json',
      'ambit-waypoint.json',
      'ambit-workload.json',
    ]);
    const failures: string[] = [];
    let evaluated = 0;
    for (const file of files) {
      const dash = JSON.parse(await readFile(path.join(REPO, 'deploy', 'grafana', file), 'utf8')) as {
        panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
        templating: { list: Array<{ name: string; type: string; definition?: string }> };
      };
      // Each variable's label_values(selector, label) offers the value the panels are evaluated with.
      for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
        const m = /^label_values\((.+), (\w+)\)$/.exec(v.definition ?? '');
        if (!m) {
          failures.push(`${file} variable ${v.name}: not label_values(selector, label): ${v.definition}`);
          continue;
        }
        const selector = m[1]!.replace(/\$\w+/g, (x) => vars[x] ?? x);
        const res = await fetch(`${promUrl}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(selector)}`);
        const values = ((await res.json()) as { data?: string[] }).data ?? [];
        const want = vars[`$${v.name}`]!;
        if (!values.includes(want)) failures.push(`${file} variable ${v.name}: ${want} not in ${values.join(', ')}`);
      }
      for (const panel of dash.panels.filter((p) => p.type !== 'row')) {
        expect(panel.targets?.length, `${file}: ${panel.title} has no query`).toBeGreaterThan(0);
        for (const t of panel.targets ?? []) {
          const expr = t.expr.replace(/\$\w+/g, (v) => vars[v] ?? v);
          const r = await query(expr);
          evaluated++;
          if (r.status !== 'success') failures.push(`${file} "${panel.title}": ${r.error ?? r.status}: ${expr}`);
          else if ((r.data?.result.length ?? 0) === 0) failures.push(`${file} "${panel.title}": no data: ${expr}`);
        }
      }
    }
    console.log(`grafana: ${evaluated} panel queries evaluated, ${failures.length} failed`);
    expect(failures).toEqual([]);
  }, 180_000);

  it("each Istio label means one thing across the agent and the waypoint (Prometheus' view)", async () => {
    const series = async (q: string): Promise<Array<Record<string, string>>> => {
      const res = await fetch(`${promUrl}/api/v1/series?match[]=${encodeURIComponent(q)}`);
      return ((await res.json()) as { data?: Array<Record<string, string>> }).data ?? [];
    };
    const values = (list: Array<Record<string, string>>, label: string): string[] =>
      [...new Set(list.map((x) => x[label] ?? ''))].sort();
    const svc = 'customer-service';
    // The same edges as each reporter sees them: the agent's hop from the callers to the
    // service (reporter=source), the waypoint's requests to it, the agent's hop from the
    // waypoint into its pods (reporter=destination).
    const agentSource = await series(
      `istio_tcp_connections_opened_total{job="ambit-agent",reporter="source",destination_service_name="${svc}"}`,
    );
    const waypoint = await series(
      `istio_requests_total{job="ambit-waypoint",reporter="waypoint",destination_service_name="${svc}"}`,
    );
    const agentDestination = await series(
      `istio_tcp_connections_opened_total{job="ambit-agent",reporter="destination",destination_workload=~"${svc}.*"}`,
    );
    expect(agentSource.length, 'agent source series').toBeGreaterThan(0);
    expect(waypoint.length, 'waypoint series').toBeGreaterThan(0);
    expect(agentDestination.length, 'agent destination series').toBeGreaterThan(0);
    // Source labels: the callers, named alike by both reporters.
    for (const label of [
      'source_workload',
      'source_workload_namespace',
      'source_principal',
      'source_app',
      'source_version',
      'destination_service',
      'destination_service_name',
      'destination_service_namespace',
      'connection_security_policy',
    ]) {
      expect(values(agentSource, label), label).toEqual(values(waypoint, label));
    }
    expect(values(waypoint, 'source_workload')).toEqual(['traffic-generator', 'web-frontend']);
    // Destination labels: the agent's hop goes to the waypoint, named after its Gateway.
    expect(values(agentSource, 'destination_workload')).toEqual(['waypoint']);
    expect(values(agentSource, 'destination_principal')).toEqual([`spiffe://cluster.local/ns/${NS}/sa/waypoint`]);
    // The waypoint's requests that reached a pod and the agent's last hop name the same pods'
    // owners (a request the waypoint answers itself, as a 403, has no destination workload).
    const served = waypoint.filter((x) => x.destination_workload !== 'unknown');
    for (const label of [
      'destination_workload',
      'destination_workload_namespace',
      'destination_principal',
      'destination_version',
    ]) {
      expect(values(agentDestination, label), label).toEqual(values(served, label));
    }
    expect(values(served, 'destination_workload')).toEqual(['customer-service-v1', 'customer-service-v2']);
    expect(values(agentDestination, 'source_workload')).toEqual(['waypoint']);
    // No reporter names a pod (`order-service-0`) or the waypoint's pod (`waypoint-waypoint`).
    const all = await series(`{__name__=~"istio_.+",destination_workload_namespace="${NS}"}`);
    for (const label of ['source_workload', 'destination_workload'])
      for (const v of values(all, label)) expect(v, label).not.toMatch(/-\d+$|^waypoint-waypoint$/);
  }, 60_000);

  it('promtool check metrics finds nothing on the agent and the waypoint /metrics but Istio names', async () => {
    const ISTIO_NAMED = ['istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"'];
    for (const [who, port] of [
      ['agent', PORTS.agentMetrics],
      ['waypoint', await waypointPort()],
    ] as const) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text, who).toContain('istio_tcp_connections_opened_total');
      const out = await promtool(text);
      const findings = out.split('\n').filter((l) => l.trim() !== '' && !ISTIO_NAMED.includes(l.trim()));
      expect(findings, `${who}: promtool check metrics`).toEqual([]);
    }
  }, 60_000);

  it('draws the same edges from Prometheus (--prometheus)', async () => {
    const fromProm = await startDashboard(stateDir, ['--prometheus', promUrl]);
    try {
      const g = await until('edges from prometheus', 30_000, async () => {
        const g = await getGraph(fromProm.url);
        return g.edges.some((e) => e.id === DENIED_EDGE && e.denied > 0) ? g : undefined;
      });
      const e = g.edges.find((x) => x.id === `wl:${NS}/web-frontend->svc:${NS}/order-service`)!;
      expect(e.rps).toBeGreaterThan(0);
      expect(e).toMatchObject({ mtls: true, via: `wp:${NS}/waypoint` });
      expect(e.p99Ms).toBeGreaterThan(0);
    } finally {
      await stop(fromProm.child);
    }
  }, 60_000);
});
