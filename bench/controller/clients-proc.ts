// Helper process: the controller's peers. Spec (JSON in argv[2]), by mode:
//   {"mode":"xds","address":A,"rootsFile":F,"controllerIdentity":I,"nodes":[{"name":N,"token":T,"lookups"?:[H]}...],
//    "onDemand"?:true}
//     one real discovery client (core/xds) per node, subscribed like an agent (on demand: it
//     gets its node's workloads, then looks the hostnames up); prints SYNCED {n, ms} once every
//     client holds its configuration, then stays connected;
//     FAILED {error} (and exit) if a client keeps losing its stream before the first sync.
//   {"mode":"ca-grpc","address":A,"rootsFile":F,"controllerIdentity":I,"node":N,"token":T,
//    "identity":S,"durationMs":D,"concurrency":C}
//     signs CSRs through the controller's CertificateService for D ms; prints RESULT.
//   {"mode":"ca-inproc","identity":S,"durationMs":D}
//     signs CSRs with an in-process CertificateAuthority (core/identity); prints RESULT.
// CSRs are made before the clock starts (key generation is the workload's cost, not the CA's).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import type { CaClient } from '../../core/identity/types.js';
import { DiscoveryClient } from '../../core/xds/client.js';
import { AGENT_TYPES } from '../../core/xds/resources.js';
import { DISCOVERY_MODE_METADATA } from '../../core/xds/mesh-source.js';

interface XdsSpec {
  mode: 'xds';
  address: string;
  rootsFile: string;
  controllerIdentity: string;
  /** `lookups`: hostnames the node's agent looks up on demand once synced (on-demand mode). */
  nodes: Array<{ name: string; token: string; lookups?: string[] }>;
  onDemand?: boolean;
}
interface CaSpec {
  mode: 'ca-grpc' | 'ca-inproc';
  identity: string;
  durationMs: number;
  concurrency?: number;
  address?: string;
  rootsFile?: string;
  controllerIdentity?: string;
  node?: string;
  token?: string;
}

const out = (tag: string, value: unknown): void => {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`);
};

async function runXds(spec: XdsSpec): Promise<void> {
  const rootsPem = readFileSync(spec.rootsFile, 'utf8');
  const t0 = performance.now();
  const clients = spec.nodes.map(
    (n) =>
      new DiscoveryClient({
        address: spec.address,
        rootsPem,
        controllerIdentity: spec.controllerIdentity,
        node: { name: n.name, role: 'agent', ...(spec.onDemand ? { metadata: { ...DISCOVERY_MODE_METADATA } } : {}) },
        types: AGENT_TYPES,
        token: n.token,
        lookupTimeoutMs: 600_000,
      }),
  );
  // The handler accepts everything: what is measured is the controller delivering it.
  for (const c of clients) c.start(() => []);
  // A client that keeps losing its stream before it ever synced will not sync: say why.
  const watch = setInterval(() => {
    const broken = clients.map((c) => c.status()).find((st) => !st.synced && st.reconnects >= 3);
    if (broken) {
      out('FAILED', {
        error: `a discovery client reconnected ${broken.reconnects} times before its first sync: ${broken.lastError ?? '?'}`,
      });
      process.exit(1);
    }
  }, 250);
  await Promise.all(clients.map((c) => c.whenSynced()));
  // On demand: the destinations each agent's pods talk to, looked up as their first connections would.
  if (spec.onDemand)
    await Promise.all(clients.flatMap((c, i) => (spec.nodes[i]!.lookups ?? []).map((h) => c.lookup(h))));
  clearInterval(watch);
  out('SYNCED', { n: clients.length, ms: performance.now() - t0 });
  const stop = (): void => {
    for (const c of clients) c.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function runCa(spec: CaSpec): Promise<void> {
  const csrs = await Promise.all(
    Array.from({ length: 64 }, async () => createCsr(spec.identity, (await generateWorkloadKey()).privateKey)),
  );
  let client: CaClient;
  let close = (): void => {};
  if (spec.mode === 'ca-inproc') {
    client = (await CertificateAuthority.create({ trustDomain: 'cluster.local' })).asClient();
  } else {
    const g = createGrpcCaClient({
      address: spec.address!,
      rootsPem: readFileSync(spec.rootsFile!, 'utf8'),
      token: spec.token!,
      nodeName: spec.node!,
      serverIdentity: spec.controllerIdentity!,
    });
    client = g;
    close = () => g.close();
  }
  const sign = (i: number): Promise<unknown> =>
    client.sign({ csrPem: csrs[i % csrs.length]!, identity: spec.identity, ttlSeconds: 86_400 });
  await Promise.all(Array.from({ length: 8 }, (_, i) => sign(i))); // warm up (JIT, TLS connection)
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + spec.durationMs;
  let done = 0;
  let errors = 0;
  let lastError = '';
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        await sign(done + errors);
        done++;
      } catch (err) {
        errors++;
        lastError = (err as Error).message;
        if (errors > 100) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency ?? 1 }, loop));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  close();
  out('RESULT', { certs: done, errors, lastError, per_s: done / seconds, cpu_s: (cpu.user + cpu.system) / 1e6 });
  process.exit(0);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as XdsSpec | CaSpec;
  if (spec.mode === 'xds') await runXds(spec);
  else if (spec.mode === 'ca-grpc' || spec.mode === 'ca-inproc') await runCa(spec);
  else throw new Error(`clients-proc: unknown mode ${String((spec as { mode?: unknown }).mode)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`clients-proc: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
