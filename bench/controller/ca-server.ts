// Helper process of the CA bench: the real Controller (discovery + CA on one gRPC server,
// TLS, node-token authentication, node authorisation from the workload index) fed by an
// in-memory mesh of `services` services × 5 pods over `nodes` nodes. Pod svc0-0 runs on
// bench-node-0 with service account sa0 in namespace bench0: the identity the bench asks for.
// Spec (JSON in argv[2]): {"services":N,"nodes":M,"tokenFile":F,"rootsFile":R}. Prints
// READY {grpc, identity}; exits on SIGTERM (so that `node --cpu-prof` writes its profile).
import { writeFileSync } from 'node:fs';
import { Controller } from '../../controller/controller.js';
import { nodeTokenFileAuthenticator } from '../../controller/ca/auth.js';
import type { ObjectSource, SourceEvent } from '../../controller/sources/types.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { generateMesh } from './objects.js';

interface Spec {
  services: number;
  nodes: number;
  tokenFile: string;
  rootsFile: string;
}

class StaticSource implements ObjectSource {
  constructor(private readonly objects: ReturnType<typeof generateMesh>) {}
  async start(onEvent: (ev: SourceEvent) => void): Promise<void> {
    for (const object of this.objects) onEvent({ type: 'ADDED', object });
    onEvent({ type: 'SYNCED' });
  }
  async stop(): Promise<void> {}
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
  writeFileSync(spec.rootsFile, ca.rootsPem);
  const controller = await Controller.start({
    source: new StaticSource(generateMesh({ services: spec.services, nodes: spec.nodes })),
    ca,
    authenticate: nodeTokenFileAuthenticator(spec.tokenFile),
    host: '127.0.0.1',
    grpcPort: 0,
    metricsPort: 0,
    readyPort: 0,
    translateDebounceMs: 0,
  });
  const started = Date.now();
  while (!controller.isReady()) {
    if (Date.now() - started > 120_000) throw new Error('the controller did not translate its mesh within 120 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`READY ${JSON.stringify({ grpc: controller.ports.grpc, identity: controller.identity })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`ca-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
