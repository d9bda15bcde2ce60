// Helper process: the controller under test, alone in its process so that its RSS and CPU
// are its own. Spec (JSON in argv[2]): {"services":N,"nodes":100,"tokenFile":F,"rootsFile":F,
// "translateRuns":R,"translateDebounceMs"?:n,"pushDebounceMs"?:n}.
// 1. Generates the objects in memory and times translate() R times (prints TRANSLATE {ms}).
// 2. Starts the real Controller (gRPC discovery + CA on 127.0.0.1, TLS, node-token admission)
//    fed by an in-memory source, writes the CA roots to rootsFile, prints READY {ports}.
// 3. Commands on stdin, one per line:
//    `clients N`  → prints CLIENTS {n} once N discovery clients are connected and answered;
//    `change K`   → a new endpoint pod for service K; prints PUSHED {ms, responses, acks, agents}
//                   once every response of the resulting push has been ACKed (or NACKed);
//    `rss`        → prints RSS {mb, hwm_mb}.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { Controller } from '../../controller/controller.js';
import { nodeTokenFileAuthenticator } from '../../controller/ca/auth.js';
import { translate } from '../../controller/translate/index.js';
import type { ObjectSource, SourceEvent } from '../../controller/sources/types.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { generateMesh, scaleUpPod, type MeshShape } from './objects.js';

interface Spec {
  services: number;
  nodes: number;
  tokenFile: string;
  rootsFile: string;
  translateRuns: number;
  translateDebounceMs?: number;
  pushDebounceMs?: number;
}

/** An ObjectSource fed from memory: the initial list, then events the bench injects. */
class MemorySource implements ObjectSource {
  private emit: ((ev: SourceEvent) => void) | undefined;
  constructor(private readonly initial: ReturnType<typeof generateMesh>) {}
  async start(onEvent: (ev: SourceEvent) => void): Promise<void> {
    this.emit = onEvent;
    for (const object of this.initial) onEvent({ type: 'ADDED', object });
    onEvent({ type: 'SYNCED' });
  }
  inject(ev: SourceEvent): void {
    this.emit?.(ev);
  }
  async stop(): Promise<void> {
    this.emit = undefined;
  }
}

/** VmRSS now and VmHWM (the peak) of this process, in MiB. */
function rss(): { mb: number; hwm_mb: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { mb: kb('VmRSS') / 1024, hwm_mb: kb('VmHWM') / 1024 };
}

const out = (tag: string, value: unknown): void => {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`);
};

async function pushesSent(c: Controller): Promise<number> {
  const m = await c.metrics.pushes.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}

function answered(c: Controller): { acks: number; perClient: Map<number, number> } {
  let acks = 0;
  const perClient = new Map<number, number>();
  for (const s of c.push.clients()) {
    acks += s.acks + s.nacks;
    perClient.set(s.id, s.acks + s.nacks);
  }
  return { acks, perClient };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Times one new endpoint pod from the source event until every response it caused has been
 * ACKed: the agents that need it (the pod's node, the agents that looked its service up)
 * have it, and no client has a response in flight or a push held back.
 */
async function timeChange(
  c: Controller,
  source: MemorySource,
  shape: MeshShape,
  svc: number,
  seq: number,
): Promise<void> {
  const sentBefore = await pushesSent(c);
  const before = answered(c);
  const object = scaleUpPod(shape, svc, seq);
  const t0 = performance.now();
  source.inject({ type: 'ADDED', object });
  const deadline = Date.now() + 300_000;
  for (;;) {
    await sleep(1);
    const sent = (await pushesSent(c)) - sentBefore;
    const idle = [...c.push.inFlight().values()].every((n) => n === 0);
    if (sent > 0 && idle) {
      const now = answered(c);
      const agents = [...now.perClient].filter(([id, n]) => n > (before.perClient.get(id) ?? 0)).length;
      out('PUSHED', {
        ms: performance.now() - t0,
        responses: sent,
        acks: now.acks - before.acks,
        agents,
        clients: now.perClient.size,
      });
      return;
    }
    if (Date.now() > deadline) {
      out('PUSHED', { error: `timeout: ${sent} responses sent, some not acked` });
      return;
    }
  }
}

async function waitForClients(c: Controller, n: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  // "Answered": every client has ACKed its six first responses (the full configuration).
  while (c.push.clients().filter((s) => s.acks + s.nacks >= 6).length < n) {
    if (Date.now() > deadline) {
      out('CLIENTS', { error: `only ${c.push.clients().length} connected` });
      return;
    }
    await sleep(20);
  }
  out('CLIENTS', { n: c.push.clients().length, nacks: c.push.clients().reduce((a, s) => a + s.nacks, 0) });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const shape: MeshShape = { services: spec.services, nodes: spec.nodes };
  const objects = generateMesh(shape);
  const times: number[] = [];
  let counts = { services: 0, workloads: 0, rejected: 0 };
  for (let i = 0; i < spec.translateRuns; i++) {
    const t0 = performance.now();
    const r = translate(objects, { mesh: { trustDomain: 'cluster.local' } });
    times.push(performance.now() - t0);
    counts = {
      services: r.snapshot.services.length,
      workloads: r.snapshot.workloads.length,
      rejected: r.rejected.length,
    };
  }
  out('TRANSLATE', { ms: Math.min(...times), runs: times, objects: objects.length, ...counts });

  const source = new MemorySource(objects);
  const ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
  writeFileSync(spec.rootsFile, ca.rootsPem);
  const controller = await Controller.start({
    source,
    ca,
    authenticate: nodeTokenFileAuthenticator(spec.tokenFile),
    host: '127.0.0.1',
    grpcPort: 0,
    metricsPort: 0,
    readyPort: 0,
    ...(spec.translateDebounceMs !== undefined ? { translateDebounceMs: spec.translateDebounceMs } : {}),
    ...(spec.pushDebounceMs !== undefined ? { pushDebounceMs: spec.pushDebounceMs } : {}),
  });
  out('READY', { ...controller.ports, identity: controller.identity });

  // A normal exit on SIGTERM, so that `node --cpu-prof` writes its profile.
  process.on('SIGTERM', () => process.exit(0));
  let seq = 0;
  let queue = Promise.resolve();
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    queue = queue
      .then(async () => {
        if (cmd === 'clients') await waitForClients(controller, Number(arg));
        else if (cmd === 'change') await timeChange(controller, source, shape, Number(arg) % spec.services, seq++);
        else if (cmd === 'rss') out('RSS', rss());
        else if (cmd === 'quit') {
          await controller.stop();
          process.exit(0);
        }
      })
      .catch((err: unknown) => out('ERROR', { message: err instanceof Error ? err.message : String(err) }));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`controller-proc: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
