// An agent and a waypoint started before their controller (controller mode, as the chart
// starts them): they wait for the published CA root, then retry the unreachable controller
// with backoff and a clear log line, and never exit; once the controller is up they serve.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_SETTINGS } from '../../agent/config/settings.js';
import { Controller } from '../../controller/controller.js';
import { nodeTokenFileAuthenticator } from '../../controller/ca/auth.js';
import { FileSource } from '../../controller/sources/file.js';
import { packageRoot } from '../../ctl/chart/tools.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { setLogSink } from '../../core/log.js';
import { WAYPOINT_SETTINGS } from '../../waypoint/config/settings.js';
import { netnsAddonStatus } from '../../agent/inpod/native.js';
import { waitFor } from '../support/wait.js';
import { freePort } from '../support/net.js';

const NODE_TOKEN = 'n'.repeat(32);
const WAYPOINT_TOKEN = 'w'.repeat(32);
const IDENTITY = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller';
const OBJECTS = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: shop }
spec: { gatewayClassName: ambit-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
`;

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
}

function start(main: string, env: Record<string, string>): Proc {
  const p: Proc = {
    child: spawn(process.execPath, [path.join(packageRoot(), 'dist', main)], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    out: '',
    err: '',
  };
  p.child.stdout!.on('data', (b: Buffer) => {
    p.out += b.toString();
  });
  p.child.stderr!.on('data', (b: Buffer) => {
    p.err += b.toString();
  });
  p.child.on('exit', (code, signal) => {
    p.err += `\n[${main} exited: ${code ?? signal}]\n`;
  });
  return p;
}

/** `{ AMBIT_X: v }` from declared setting keys, so a renamed variable breaks this test at compile time. */
function envOf<S extends Record<string, { env?: string }>>(
  settings: S,
  values: { [K in keyof S]?: string },
): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [settings[k]!.env!, v!]));
}

describe('agent and waypoint started before the controller', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let controller: Controller | undefined;
  const procs: Proc[] = [];
  let port: number;
  let roots: string;
  const agentRuns = netnsAddonStatus().ok;

  beforeAll(async () => {
    setLogSink({ write: () => true });
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-retry-'));
    port = await freePort();
    roots = path.join(dir, 'ca-root', 'root-cert.pem');
    await writeFile(path.join(dir, 'node-token'), `${NODE_TOKEN}\n`);
    await writeFile(path.join(dir, 'waypoint-token'), `${WAYPOINT_TOKEN}\n`);
    const common = {
      controller: `127.0.0.1:${port}`,
      controllerRoots: roots,
      controllerIdentity: IDENTITY,
      adminPort: '0',
      metricsPort: '0',
      readyPort: '0',
    };
    procs.push(
      start('waypoint/main.js', {
        ...envOf(WAYPOINT_SETTINGS, {
          ...common,
          namespace: 'shop',
          serviceAccount: 'waypoint',
          tokenFile: path.join(dir, 'waypoint-token'),
          hbonePort: '0',
          hboneHost: '127.0.0.1',
        }),
      }),
    );
    if (agentRuns) {
      procs.push(
        start('agent/main.js', {
          ...envOf(AGENT_SETTINGS, {
            ...common,
            nodeName: 'node-a',
            tokenFile: path.join(dir, 'node-token'),
            stateDir: path.join(dir, 'agent'),
            enrolmentSocket: path.join(dir, 'agent.sock'),
            publicHost: '127.0.0.1',
          }),
        }),
      );
    }
  });

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await controller?.stop();
    setLogSink(process.stderr);
    await rm(dir, { recursive: true, force: true });
  });

  it('wait for the CA root, then retry the unreachable controller, without exiting', async () => {
    for (const p of procs)
      await waitFor(
        () => /waiting for the controller root certificate \(AMBIT_CONTROLLER_ROOTS\); retrying/.test(p.err),
        'the root wait line',
      );
    ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
    await mkdir(path.dirname(roots), { recursive: true });
    await writeFile(roots, ca.rootsPem);
    const [waypoint, agent] = procs;
    // The waypoint asks for its certificate first (discovery follows), the agent subscribes first.
    await waitFor(
      () => /certificate request failed; retrying.*ECONNREFUSED/.test(waypoint!.err),
      "the waypoint's CA retry line",
    );
    if (agent)
      await waitFor(
        () => /discovery stream lost; keeping the last config and reconnecting/.test(agent.err),
        "the agent's discovery retry line",
      );
    for (const p of procs) expect(p.child.exitCode, p.err.slice(-2000)).toBeNull();
  }, 30_000);

  it('serve once the controller is up', async () => {
    const objectsDir = path.join(dir, 'objects');
    await mkdir(objectsDir);
    await writeFile(path.join(objectsDir, 'objects.yaml'), OBJECTS);
    await writeFile(
      path.join(dir, 'node-tokens'),
      `${NODE_TOKEN} node-a\n${WAYPOINT_TOKEN} spiffe://cluster.local/ns/shop/sa/waypoint\n`,
    );
    controller = await Controller.start({
      source: new FileSource({ path: objectsDir, debounceMs: 20 }),
      ca,
      identity: IDENTITY,
      authenticate: nodeTokenFileAuthenticator(path.join(dir, 'node-tokens')),
      localNode: 'node-a',
      host: '127.0.0.1',
      grpcPort: port,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 20,
      pushDebounceMs: 20,
    });
    for (const p of procs) await waitFor(() => /^ready \{/m.test(p.out), 'a ready line', 30_000);
    for (const p of procs) expect(p.child.exitCode).toBeNull();
    if (!agentRuns) console.warn('agent part skipped: the netns addon is not built');
  }, 45_000);
});
