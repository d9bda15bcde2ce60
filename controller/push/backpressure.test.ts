// Backpressure per client: a client that stops reading (and so stops ACKing) holds at most
// one response per subscribed type on the server, never delays the other clients, and when
// it reads again gets the current versions, not every version in between.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import { discoveryService, type DeltaRequest, type DeltaResponse } from '../../core/xds/proto.js';
import { AGENT_TYPES, TYPE_WORKLOAD } from '../../core/xds/resources.js';
import { DiscoveryClient } from '../../core/xds/client.js';
import type { Workload } from '../../core/model/types.js';
import { testCa } from '../../test/support/pki.js';
import { snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { waitFor } from '../../test/support/wait.js';
import { DiscoveryServer } from './server.js';
import { buildResourceSet } from './resources.js';
import { startGrpcServer, type ControllerGrpcServer } from './grpc-server.js';

const CONTROLLER_ID = spiffeIdFor('cluster.local', 'ambit-system', 'ambit-controller');

describe('discovery backpressure', () => {
  let ca: CertificateAuthority;
  let serving: Credentials;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    ca = await testCa();
    serving = await ca.issue(CONTROLLER_ID);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a client that stops reading holds one response per type and does not delay the others', async () => {
    const push = new DiscoveryServer({ debounceMs: 5 });
    cleanups.push(() => push.close());
    // Big workloads, so that the stuck client's socket and HTTP/2 window fill up quickly.
    const big = (i: number): Workload => ({
      ...workload('web'),
      labels: { app: 'web', rev: String(i), pad: 'x'.repeat(60_000) },
    });
    let rev = 0;
    const publish = (): void =>
      push.update(
        buildResourceSet({ snapshot: snapshot({ workloads: [big(++rev)] }), waypoints: new Map() }),
        String(rev),
      );
    publish();
    const server: ControllerGrpcServer = await startGrpcServer({
      credentials: serving,
      host: '127.0.0.1',
      port: 0,
      register: [(s) => push.register(s)],
    });
    cleanups.push(() => server.close());

    // The stuck client: subscribes to workloads, then never reads nor ACKs again.
    const Ctor = discoveryService();
    const raw = new Ctor(
      `127.0.0.1:${server.port}`,
      grpc.credentials.createSsl(Buffer.from(ca.rootsPem), null, null, { checkServerIdentity: () => undefined }),
      { 'grpc.ssl_target_name_override': 'ambit-controller' },
    );
    cleanups.push(() => raw.close());
    const stuck = (
      raw as unknown as { DeltaResources(): grpc.ClientDuplexStream<DeltaRequest, DeltaResponse> }
    ).DeltaResources();
    cleanups.push(() => stuck.cancel());
    const stuckGot: DeltaResponse[] = [];
    stuck.on('data', (r: DeltaResponse) => stuckGot.push(r));
    stuck.on('error', () => undefined);
    stuck.write({
      node: { name: 'stuck', role: 'agent', namespace: '', metadata: {} },
      typeUrl: TYPE_WORKLOAD,
      initialVersions: {},
      responseNonce: '',
    });
    await waitFor(() => stuckGot.length === 1, 'stuck client first answer');
    stuck.pause();

    // A well-behaved client.
    const fast = new DiscoveryClient({
      address: `127.0.0.1:${server.port}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: CONTROLLER_ID,
      node: { name: 'fast', role: 'agent' },
      types: AGENT_TYPES,
    });
    cleanups.push(() => fast.stop());
    let seen = '';
    fast.start((resources) => {
      seen = (resources.get(TYPE_WORKLOAD)?.get('Pod/shop/web') as Workload | undefined)?.labels.rev ?? '';
      return [];
    });
    await fast.whenSynced();

    const stuckId = push.clients().find((c) => c.node === 'stuck')!.id;
    for (let i = 0; i < 40; i++) {
      publish();
      // Every update reaches the fast client, whatever the stuck one does.
      await waitFor(() => seen === String(rev), `revision ${rev} at the fast client`, 5_000);
      expect(push.inFlight().get(stuckId)).toBeLessThanOrEqual(1);
    }
    // The stuck client got nothing past its first answer: the server held the rest back.
    expect(stuckGot.length).toBe(1);

    // It reads and ACKs again: it gets the current version in one response.
    stuck.resume();
    stuck.write({ typeUrl: TYPE_WORKLOAD, initialVersions: {}, responseNonce: stuckGot[0]!.nonce });
    await waitFor(() => stuckGot.length === 2, 'catch-up response');
    const latest = JSON.parse(stuckGot[1]!.resources[0]!.body) as Workload;
    expect(latest.labels.rev).toBe(String(rev));
    await new Promise((r) => setTimeout(r, 100));
    expect(stuckGot.length).toBe(2);
  });
});
