// The chaos suite: the coffee-shop on `ambitctl local up` under constant open-loop load
// (through the waypoint and at L4), one day-2 event at a time, every failed request counted
// with its reason. `short` (npm test) runs a few seconds per event at a low rate; `full`
// (npm run chaos) runs the issue's figures: 500 req/s, 100 config changes in 60 s, a 30 s
// certificate TTL, the CA away for 60 s. Needs root (network namespaces).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { localApply } from '../../ctl/local/apply.js';
import { controlRequest, type UnitStatus } from '../../ctl/local/control.js';
import type { LocalRecord } from '../../ctl/local/state.js';
import { readRecord } from '../../ctl/local/state.js';
import { LocalMesh, REPO } from './local-mesh.js';
import {
  CLIENT_POD,
  L4_SERVICE,
  NAMESPACE,
  REUSE_NEW,
  REUSE_OLD,
  servicePod,
  writeChaosFixture,
} from './chaos-fixture.js';
import type { LoadSpec, LoadSummary, LoadTarget } from './chaos-load.js';

export type Mode = 'short' | 'full';
/** What an event must achieve: no failed request, no misrouted one, or only a report. */
export type Goal = 'no-failed' | 'no-misrouted' | 'report';

export interface ChaosSettings {
  readonly rate: number;
  /** Seconds of load around each event. */
  readonly loadSeconds: number;
  readonly churnChanges: number;
  readonly churnSeconds: number;
  readonly certTtlSeconds: number;
  readonly caAwaySeconds: number;
}

export const SETTINGS: Record<Mode, ChaosSettings> = {
  short: { rate: 100, loadSeconds: 5, churnChanges: 10, churnSeconds: 4, certTtlSeconds: 10, caAwaySeconds: 4 },
  full: { rate: 500, loadSeconds: 20, churnChanges: 100, churnSeconds: 60, certTtlSeconds: 30, caAwaySeconds: 60 },
};

export interface EventResult {
  readonly event: string;
  readonly goal: Goal;
  readonly sent: number;
  readonly failed: number;
  readonly misrouted: number;
  readonly reasons: Record<string, number>;
  /** What happened (restarts, rotations, fallbacks) and, where the goal is missed, why. */
  readonly notes: string[];
  readonly met: boolean;
  readonly summary?: LoadSummary;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(
  cmd: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  timeoutMs = 600_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: env ?? process.env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

export interface ChaosMeshOptions {
  readonly mode: Mode;
  readonly bridge: string;
  readonly cidr: string;
  readonly prefix: string;
  readonly portOffset: number;
  readonly log?: (line: string) => void;
  /** Overrides the mode's certificate TTL (the soak runs with day-long certificates). */
  readonly certTtlSeconds?: number;
}

/** A local mesh of the chaos fixture, and what the events act on. */
export class ChaosMesh {
  readonly settings: ChaosSettings;
  private mesh!: LocalMesh;
  private root!: string;
  stateDir!: string;
  record!: LocalRecord;

  constructor(readonly o: ChaosMeshOptions) {
    this.settings = { ...SETTINGS[o.mode], ...(o.certTtlSeconds ? { certTtlSeconds: o.certTtlSeconds } : {}) };
  }

  log(line: string): void {
    this.o.log?.(line);
  }

  async start(): Promise<void> {
    this.root = await mkdtemp(path.join(tmpdir(), `${this.o.prefix}chaos-`));
    const dir = await writeChaosFixture(REPO, path.join(this.root, 'manifests'));
    this.stateDir = path.join(this.root, 'state');
    this.mesh = new LocalMesh({
      dir,
      stateDir: this.stateDir,
      bridge: this.o.bridge,
      cidr: this.o.cidr,
      prefix: this.o.prefix,
      portOffset: this.o.portOffset,
      env: { AMBIT_CERT_TTL_SECONDS: String(this.settings.certTtlSeconds), AMBIT_LOG_LEVEL: 'warn' },
    });
    await this.mesh.start();
    this.record = (await readRecord(this.stateDir))!;
  }

  /** Re-reads the record (pods replaced by an event). */
  async refresh(): Promise<void> {
    this.record = (await readRecord(this.stateDir)) ?? this.record;
  }

  async stop(): Promise<void> {
    if (!this.mesh) return;
    await this.mesh.stop();
    await this.mesh.down();
    await rm(this.root, { recursive: true, force: true });
  }

  get stderr(): string {
    return this.mesh.stderr;
  }

  control<T>(method: 'GET' | 'POST', what: string, timeoutMs?: number): Promise<T> {
    return controlRequest<T>(path.join(this.stateDir, 'control.sock'), method, what, timeoutMs);
  }

  async unit(name: string): Promise<UnitStatus> {
    const u = (await this.control<UnitStatus[]>('GET', '/units')).find((x) => x.name === name);
    if (!u) throw new Error(`no unit ${name}`);
    return u;
  }

  vip(service: string): string {
    const s = this.record.serviceVips.find((x) => x.namespace === NAMESPACE && x.name === service);
    if (!s?.vips[0]) throw new Error(`no VIP for ${service}`);
    return s.vips[0];
  }

  targets(): LoadTarget[] {
    return [
      { name: 'waypoint', url: `http://${this.vip('customer-service')}:8080/profile`, service: 'customer-service' },
      { name: 'l4', url: `http://${this.vip(L4_SERVICE)}:8080/profile`, service: 'customer-service' },
    ];
  }

  netnsOf(pod: string): string {
    const p = this.record.planned.find((x) => x.namespace === NAMESPACE && x.name === pod);
    if (!p) throw new Error(`no pod ${pod}`);
    return p.netnsName;
  }

  /** Runs the load inside the client pod for `seconds`. */
  async load(seconds: number, rate = this.settings.rate): Promise<LoadSummary> {
    const spec: LoadSpec = { targets: this.targets(), rate, durationMs: seconds * 1000 };
    const out = await sh(
      'ip',
      [
        'netns',
        'exec',
        this.netnsOf(CLIENT_POD),
        process.execPath,
        path.join(REPO, 'dist', 'test', 'support', 'chaos-load.js'),
      ],
      { ...process.env, CHAOS_LOAD: JSON.stringify(spec) },
      // The load's own bound plus room for its last requests (never the 10-minute default).
      (seconds + 120) * 1000,
    );
    if (out.code !== 0) throw new Error(`load: exit ${out.code}: ${out.stderr.slice(-2000)}`);
    return JSON.parse(out.stdout) as LoadSummary;
  }

  async agentDump(): Promise<{
    pods?: Array<{ namespace: string; name: string }>;
    workloads?: Array<{ uid: string }>;
    certificates?: Array<{ identity: string; notAfter: string; notBefore?: string; serial?: string }>;
  }> {
    const res = await fetch(`http://127.0.0.1:${this.record.ports.agentAdmin}/config_dump`, {
      signal: AbortSignal.timeout(3000),
    });
    return (await res.json()) as Awaited<ReturnType<ChaosMesh['agentDump']>>;
  }

  /** Waits (up to 3 min) until every unit runs and every agent certificate is valid; false if not. */
  async settle(timeoutMs = 180_000): Promise<boolean> {
    await sleep(1000);
    return until(
      'a healthy mesh',
      async () => {
        const units = await this.control<UnitStatus[]>('GET', '/units');
        const certs = (await this.agentDump()).certificates ?? [];
        const now = Date.now();
        return units.every((u) => u.state === 'running') &&
          certs.length > 0 &&
          certs.every((c) => Date.parse(c.notAfter) > now + 2000)
          ? true
          : undefined;
      },
      timeoutMs,
    ).catch(() => false);
  }

  async apply(name: string, objects: readonly unknown[]): Promise<void> {
    const file = path.join(this.root, name);
    await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
    await localApply(this.stateDir, [file], () => undefined);
  }
}

export interface ChaosEvent {
  readonly name: string;
  readonly goal: Goal;
  /** The cause found for this event's failed requests (printed when there are any). */
  readonly knownCause?: string;
  /** Runs the event while the load runs; returns notes. `load` starts the load (once). */
  run(mesh: ChaosMesh): Promise<{ summary: LoadSummary; notes: string[] }>;
}

/** The load for `seconds`, with `action` started `leadMs` into it. */
async function during(
  mesh: ChaosMesh,
  seconds: number,
  leadMs: number,
  action: () => Promise<string[]>,
): Promise<{ summary: LoadSummary; notes: string[] }> {
  const load = mesh.load(seconds);
  await sleep(leadMs);
  const notes = await action().catch((err: unknown) => [`the event itself failed: ${String(err)}`]);
  return { summary: await load, notes };
}

const virtualService = (v1: number) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'customer-service', namespace: NAMESPACE },
  spec: {
    hosts: ['customer-service'],
    http: [
      {
        route: [
          { destination: { host: 'customer-service', subset: 'v1' }, weight: v1 },
          { destination: { host: 'customer-service', subset: 'v2' }, weight: 100 - v1 },
        ],
      },
    ],
  },
});
const paymentPolicy = (extra: number) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'payment-service', namespace: NAMESPACE },
  spec: {
    selector: { matchLabels: { app: 'payment-service' } },
    action: 'ALLOW',
    rules: [
      {
        from: [
          {
            source: {
              principals: [
                'cluster.local/ns/coffee-shop/sa/order-service',
                ...(extra % 2 === 1 ? [`cluster.local/ns/coffee-shop/sa/churn-${extra}`] : []),
              ],
            },
          },
        ],
      },
    ],
  },
});

export const EVENTS: readonly ChaosEvent[] = [
  {
    name: 'config churn',
    goal: 'no-failed',
    run: (mesh) => {
      const { churnChanges: n, churnSeconds: secs } = mesh.settings;
      return during(mesh, Math.max(mesh.settings.loadSeconds, secs + 2), 500, async () => {
        const started = Date.now();
        for (let i = 0; i < n; i++) {
          await mesh.apply(`churn-${i % 2}.yaml`, [
            i % 2 === 0 ? virtualService(i % 4 === 0 ? 60 : 80) : paymentPolicy(i),
          ]);
          const due = started + ((i + 1) * secs * 1000) / n;
          await sleep(Math.max(0, due - Date.now()));
        }
        await mesh.apply('churn-end.yaml', [virtualService(70), paymentPolicy(0)]);
        return [`${n} VirtualService/AuthorizationPolicy changes in ${((Date.now() - started) / 1000).toFixed(1)} s`];
      });
    },
  },
  {
    name: 'controller kill -9',
    goal: 'no-failed',
    run: (mesh) =>
      during(mesh, mesh.settings.loadSeconds, 1000, async () => {
        const before = await mesh.unit('controller');
        process.kill(before.pid, 'SIGKILL');
        const after = await until('the controller restarted', async () => {
          const u = await mesh.unit('controller');
          return u.pid !== before.pid && u.state === 'running' ? u : undefined;
        });
        return [
          `controller pid ${before.pid} killed; restarted by local up as pid ${after.pid} (restarts ${after.restarts})`,
        ];
      }),
  },
  {
    name: 'agent restart',
    goal: 'no-failed',
    knownCause:
      "new connections never fail (the new agent shares the pods' listeners through SO_REUSEPORT); the old agent " +
      'closes the connections it still carries at its drain deadline (AMBIT_DRAIN_MS=2000 in local up), and an L4 proxy ' +
      'cannot tell when a keep-alive connection is between requests: one in flight then is reset (ECONNRESET)',
    run: (mesh) =>
      during(mesh, mesh.settings.loadSeconds, 1000, async () => {
        const before = await mesh.unit('agent');
        try {
          const after = await mesh.control<UnitStatus>('POST', '/restart?unit=agent&surge=1');
          return [`new agent pid ${after.pid} started and ready before the old one (pid ${before.pid}) was stopped`];
        } catch (err) {
          const after = await mesh.control<UnitStatus>('POST', '/restart?unit=agent');
          return [
            `the new agent could not start beside the old one (${String(err).slice(0, 300)}): stopped the old, then started the new (pid ${after.pid})`,
          ];
        }
      }),
  },
  {
    name: 'waypoint rollout',
    goal: 'no-failed',
    knownCause:
      'a replica on SIGTERM sends GOAWAY and closes the HTTP/1 connections inside its tunnels; a client that ' +
      "writes its next request on such a keep-alive connection as it closes gets ECONNRESET (Node's client does not retry)",
    run: (mesh) =>
      during(mesh, mesh.settings.loadSeconds + 4, 1000, async () => {
        const r = await mesh.control<{ replicas: string[]; balanced: boolean }>(
          'POST',
          `/rollout-waypoint?namespace=${NAMESPACE}&name=waypoint`,
        );
        return [
          `${r.replicas.length} waypoint replicas (${r.replicas.join(', ')}) restarted one at a time${r.balanced ? ", each out of the balancer's rotation meanwhile" : ' (no second replica: a restart)'}`,
        ];
      }),
  },
  {
    name: 'certificate rotation',
    goal: 'no-failed',
    run: async (mesh) => {
      const ttl = mesh.settings.certTtlSeconds;
      const serials = async () =>
        new Map((await mesh.agentDump()).certificates?.map((c) => [c.identity, c.notAfter]) ?? []);
      const before = await serials();
      // Long enough to cover the rotation at half the TTL at least once.
      const r = await during(mesh, Math.max(mesh.settings.loadSeconds, Math.ceil(ttl * 0.6) + 1), 0, async () => []);
      const after = await serials();
      const rotated = [...after].filter(([id, notAfter]) => before.get(id) !== notAfter).length;
      r.notes.push(`certificate TTL ${ttl} s: ${rotated} of ${after.size} agent certificates rotated during the load`);
      if (rotated === 0) r.notes.push('no rotation observed: the event did not test what it should');
      return r;
    },
  },
  {
    name: 'CA unreachable',
    goal: 'report',
    knownCause: 'certificates expired while the CA was away (renewal retries until it is back)',
    run: (mesh) => {
      const away = mesh.settings.caAwaySeconds;
      return during(mesh, away + 3, 1000, async () => {
        const certsNow = async () =>
          new Map((await mesh.agentDump()).certificates?.map((c) => [c.identity, c.notAfter]) ?? []);
        const before = await certsNow();
        await mesh.control('POST', '/pause?unit=controller');
        await sleep(away * 1000);
        await mesh.control('POST', '/resume?unit=controller');
        const back = Date.now();
        const ttl = mesh.settings.certTtlSeconds;
        const notes = [
          `controller (the CA) stopped for ${away} s with a ${ttl} s certificate TTL${away >= ttl / 2 ? ': certificates expire meanwhile, failures expected after that' : ': certificates outlive the outage'}`,
        ];
        // Renewal retries: once the CA is back every identity gets a new certificate.
        const renewed = await until(
          'certificates renewed',
          async () => {
            const now = await certsNow();
            return [...before.keys()].every((id) => now.has(id) && now.get(id) !== before.get(id)) ? true : undefined;
          },
          (ttl + 60) * 1000,
        ).catch(() => false);
        notes.push(
          renewed
            ? `after the CA came back, all ${before.size} agent certificates were renewed within ${Math.round((Date.now() - back) / 1000)} s`
            : `certificates were NOT all renewed ${Math.round((Date.now() - back) / 1000)} s after the CA came back`,
        );
        return notes;
      });
    },
  },
  {
    name: 'pod churn with IP reuse',
    goal: 'no-misrouted',
    knownCause:
      "requests the waypoint had already sent to the deleted pod's endpoint fail (503) until it learns of the deletion, " +
      "and the client's pooled L4 connections to the old pod are reset when it stops (they are dropped, never reused)",
    run: (mesh) =>
      during(mesh, mesh.settings.loadSeconds + 3, 1000, async () => {
        const old = mesh.record.planned.find((p) => p.name === REUSE_OLD)!;
        const file = path.join(mesh.stateDir, '..', 'ip-reuse-new.yaml');
        await writeFile(file, stringify(servicePod(REUSE_NEW, 'impostor', { app: 'impostor' }, 'impostor')));
        const res = await mesh.control<{ ip: string; identity: string }>(
          'POST',
          `/replace-pod?namespace=${NAMESPACE}&name=${REUSE_OLD}&manifest=${encodeURIComponent(file)}`,
        );
        return [
          `${REUSE_OLD} (customer-service, ${old.ip}) deleted; ${REUSE_NEW} (${res.identity}) created with the same IP ${res.ip}`,
        ];
      }),
  },
  {
    name: 'node reboot',
    goal: 'no-failed',
    run: async (mesh) => {
      // Traffic stops, the agent dies with the node, the capture rules of every pod are lost
      // (flushed), the agent comes back and the CNI reconciles every pod; traffic resumes.
      const before = await mesh.unit('agent');
      process.kill(before.pid, 'SIGKILL');
      const enrolled = mesh.record.planned.filter((p) => p.enrolled);
      for (const p of enrolled) {
        await sh('ip', ['netns', 'exec', p.netnsName, 'iptables', '-t', 'nat', '-F']);
        await sh('ip', ['netns', 'exec', p.netnsName, 'iptables', '-t', 'mangle', '-F']);
      }
      await until('the agent restarted', async () => {
        const u = await mesh.unit('agent');
        return u.pid !== before.pid && u.state === 'running' ? u : undefined;
      });
      await until(
        'the agent ready',
        async () =>
          (
            await fetch(`http://127.0.0.1:${mesh.record.ports.agentReady}/healthz/ready`, {
              signal: AbortSignal.timeout(1000),
            })
          ).ok || undefined,
      );
      const reasserted = await mesh.control<Array<{ pod: string; check: string; readded: boolean; error?: string }>>(
        'POST',
        '/reassert-capture',
      );
      const missing: string[] = [];
      for (const p of enrolled) {
        const save = await sh('ip', ['netns', 'exec', p.netnsName, 'iptables-save', '-t', 'nat']);
        if (!save.stdout.includes('-A AMBIT_OUTPUT') || !save.stdout.includes('-A AMBIT_INBOUND')) missing.push(p.name);
      }
      const dump = await mesh.agentDump();
      const held = new Set(dump.pods?.map((p) => p.name));
      const notHeld = enrolled.filter((p) => !held.has(p.name)).map((p) => p.name);
      const r = await during(mesh, mesh.settings.loadSeconds, 0, async () => []);
      r.notes.push(
        `agent pid ${before.pid} killed, nat/mangle rules of ${enrolled.length} pods flushed; CNI re-added ${reasserted.filter((x) => x.readded).length} pods` +
          `; before traffic resumed: ${missing.length === 0 ? 'every pod redirected' : `no redirection in ${missing.join(', ')}`}, ${notHeld.length === 0 ? 'every pod held by the agent' : `agent lacks ${notHeld.join(', ')}`}`,
      );
      const errors = reasserted.filter((x) => x.error);
      if (errors.length > 0) r.notes.push(`CNI errors: ${errors.map((e) => `${e.pod}: ${e.error}`).join('; ')}`);
      return r;
    },
  },
];

function resultOf(event: ChaosEvent, summary: LoadSummary, notes: string[]): EventResult {
  let sent = 0;
  let failed = 0;
  let misrouted = 0;
  const reasons: Record<string, number> = {};
  for (const [target, t] of Object.entries(summary.targets)) {
    sent += t.sent;
    failed += t.failed;
    misrouted += t.misrouted;
    for (const [r, n] of Object.entries(t.reasons)) reasons[`${target}: ${r}`] = (reasons[`${target}: ${r}`] ?? 0) + n;
    for (const [who, n] of Object.entries(t.misroutedTo)) reasons[`${target}: misrouted to ${who}`] = n;
  }
  if (failed + misrouted > 0 && event.knownCause) notes.push(`cause: ${event.knownCause}`);
  const eventFailed = notes.some(
    (n) => n.startsWith('the event itself failed') || n.startsWith('no rotation observed'),
  );
  const met =
    !eventFailed &&
    (event.goal === 'no-failed'
      ? failed === 0 && misrouted === 0
      : event.goal === 'no-misrouted'
        ? misrouted === 0
        : true);
  return { event: event.name, goal: event.goal, sent, failed, misrouted, reasons, notes, met, summary };
}

/** Runs the events (all, or those named) on a started mesh, one after the other. */
export async function runEvents(mesh: ChaosMesh, names?: readonly string[]): Promise<EventResult[]> {
  const out: EventResult[] = [];
  for (const event of EVENTS.filter((e) => !names || names.includes(e.name))) {
    mesh.log(`event: ${event.name} …`);
    await mesh.refresh();
    const { summary, notes } = await event.run(mesh);
    // The next event starts on a healthy mesh: every unit running, every certificate valid.
    const t0 = Date.now();
    const healthy = await mesh.settle();
    const took = Math.round((Date.now() - t0) / 1000);
    if (!healthy) notes.push(`the mesh was not healthy again ${took} s after the event`);
    else if (took >= 3) notes.push(`the mesh was healthy again ${took} s after the event`);
    const r = resultOf(event, summary, notes);
    mesh.log(
      `event: ${event.name}: ${r.failed} failed, ${r.misrouted} misrouted of ${r.sent}${r.met ? '' : ' (goal missed)'}`,
    );
    out.push(r);
  }
  return out;
}

/** The table: event × requests, failed, misrouted, goal, and the reasons and notes. */
export function formatTable(results: readonly EventResult[]): string {
  const lines = [
    `${'event'.padEnd(26)}${'requests'.padStart(9)}${'failed'.padStart(8)}${'misrouted'.padStart(10)}  ${'goal'.padEnd(13)}met`,
  ];
  for (const r of results) {
    lines.push(
      `${r.event.padEnd(26)}${String(r.sent).padStart(9)}${String(r.failed).padStart(8)}${String(r.misrouted).padStart(10)}  ${r.goal.padEnd(13)}${r.goal === 'report' ? '-' : r.met ? 'yes' : 'NO'}`,
    );
  }
  lines.push('');
  for (const r of results) {
    const reasons = Object.entries(r.reasons)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ');
    lines.push(`${r.event}: ${r.notes.join('; ')}${reasons ? `. Failures: ${reasons}` : ''}`);
  }
  return lines.join('\n');
}
