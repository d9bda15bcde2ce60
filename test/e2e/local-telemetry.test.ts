// The Telemetry API under `ambitctl local up` (the built CLI, as a user runs it): one
// Telemetry in the coffee-shop namespace, with an Envoy file access log provider defined in
// the mesh ConfigMap, is served by both reporters: the agent writes a line per connection and
// drops istio_tcp_sent_bytes_total on the client side; the waypoint writes a line per request
// and labels istio_requests_total with the request's host. Own bridge, CIDR, prefix and ports.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
import { pollUntil } from '../support/wait.js';

const BRIDGE = 'ambt-t1-br0';
const CIDR = '10.239.116.0/24';
const PREFIX = 'ambt-t1-';
const OFFSET = 6160;
const NS = 'coffee-shop';

const telemetryYaml = (logFile: string): string => `
apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    extensionProviders:
      - name: file-log
        envoyFileAccessLog: { path: ${logFile} }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: coffee-shop, namespace: ${NS} }
spec:
  accessLogging: [{ providers: [{ name: file-log }] }]
  metrics:
    - overrides:
        - match: { metric: REQUEST_COUNT }
          tagOverrides: { request_host: { value: request.host } }
        - match: { metric: TCP_SENT_BYTES, mode: CLIENT }
          disabled: true
`;

describeNetns('Telemetry API under local up: agent and waypoint', () => {
  let work: string;
  let stateDir: string;
  let logFile: string;
  let mesh: LocalMesh;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-t1-telemetry-'));
    stateDir = path.join(work, 'state');
    logFile = path.join(work, 'access.log');
    const dir = path.join(work, NS);
    await cp(path.join(REPO, 'examples', NS), dir, { recursive: true });
    await writeFile(path.join(dir, 'telemetry.yaml'), telemetryYaml(logFile));
    mesh = new LocalMesh({ dir, stateDir, bridge: BRIDGE, cidr: CIDR, prefix: PREFIX, portOffset: OFFSET });
    await mesh.start();
  }, 240_000);

  afterAll(async () => {
    await mesh?.stop();
    await mesh?.down();
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  const curl = (url: string) =>
    sh(process.execPath, [
      CTL,
      'local',
      'exec',
      '--state-dir',
      stateDir,
      '-n',
      NS,
      'web-frontend',
      '--',
      'curl',
      '-s',
      '-m',
      '5',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      url,
    ]);

  it('both reporters write the access log and apply the metric overrides', async () => {
    await pollUntil(async () => ((await curl('http://order-service:8080/')).stdout === '200' ? true : undefined), {
      what: 'web-frontend → order-service through the waypoint',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    for (let i = 0; i < 3; i++) expect((await curl('http://order-service:8080/')).stdout).toBe('200');

    const entries = await pollUntil(
      async () => {
        const lines = (await readFile(logFile, 'utf8').catch(() => ''))
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const agent = lines.filter((l) => l.reporter === 'source' && l.destination_service);
        const waypoint = lines.filter((l) => l.method === 'GET' && l.authority === 'order-service:8080');
        return agent.length > 0 && waypoint.length > 0 ? { agent, waypoint } : undefined;
      },
      { what: 'access log lines from the agent and the waypoint', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(entries.waypoint[0]).toMatchObject({ response_code: 200, path: '/' });
    expect(entries.agent[0]).toMatchObject({ connection_security_policy: 'mutual_tls' });

    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      waypoints?: Array<{ namespace: string; name: string; port: number }>;
    };
    const wpPort = record.waypoints?.find((w) => w.namespace === NS && w.name === 'waypoint')?.port;
    expect(wpPort).toBeDefined();
    const waypointText = await (await fetch(`http://127.0.0.1:${wpPort}/metrics`)).text();
    expect(waypointText).toMatch(
      /istio_requests_total\{[^}]*destination_service_name="order-service"[^}]*request_host="order-service:8080"[^}]*\} [1-9]/,
    );
    const agentText = await (await fetch(`http://127.0.0.1:${15020 + OFFSET}/metrics`)).text();
    const line = (name: string, reporter: string) =>
      agentText
        .split('\n')
        .filter(
          (l) =>
            l.startsWith(`${name}{`) &&
            l.includes(`reporter="${reporter}"`) &&
            l.includes(`source_workload="web-frontend"`),
        );
    expect(line('istio_tcp_received_bytes_total', 'source').length).toBeGreaterThan(0);
    expect(line('istio_tcp_sent_bytes_total', 'source')).toEqual([]);
    // The server side (not CLIENT) keeps the metric.
    expect(agentText).toMatch(/istio_tcp_sent_bytes_total\{[^}]*reporter="destination"/);
  }, 180_000);
});
