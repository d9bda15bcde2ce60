import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnapshotText } from './config/snapshot-file.js';
import { enrolmentHandler, isEnrolled } from './enrolment-handler.js';
import { enrolmentRequest, RetryLater, startEnrolmentServer, type EnrolmentServer } from '../core/enrolment/index.js';
import { assembleSnapshot, snapshotResources } from '../core/xds/resources.js';
import { setLogSink } from '../core/log.js';
import type { MeshSnapshot } from '../core/model/types.js';

const snap = (doc: Record<string, unknown>) => parseSnapshotText(JSON.stringify(doc), 'v', 'test');

describe('enrolment decision', () => {
  const s = snap({
    namespaces: [
      { name: 'shop', labels: { 'mesh-mode': 'ambient' } },
      { name: 'legacy', labels: {} },
      { name: 'istio', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    ],
    workloads: [{ name: 'pinned', namespace: 'legacy', ips: [], enrolled: true }],
  });

  it('follows the namespace label (and Istio alias), with the pod opt-out winning', () => {
    expect(isEnrolled(s, { namespace: 'shop', name: 'a' })).toBe(true);
    expect(isEnrolled(s, { namespace: 'istio', name: 'a' })).toBe(true);
    expect(isEnrolled(s, { namespace: 'legacy', name: 'a' })).toBe(false);
    expect(isEnrolled(s, { namespace: 'shop', name: 'a', labels: { 'mesh-mode': 'none' } })).toBe(false);
    expect(isEnrolled(s, { namespace: 'legacy', name: 'a', labels: { 'istio.io/dataplane-mode': 'ambient' } })).toBe(
      true,
    );
  });

  it("uses the mesh's view of a known pod", () => {
    expect(isEnrolled(s, { namespace: 'legacy', name: 'pinned' })).toBe(true);
  });

  it('asks to retry for a pod of a namespace it does not know, even one with enrolled workloads', () => {
    const bare = snap({ workloads: [{ name: 'x', namespace: 'shop', ips: [], enrolled: true }] });
    expect(() => isEnrolled(bare, { namespace: 'shop', name: 'y' })).toThrow(RetryLater);
    expect(() => isEnrolled(bare, { namespace: 'other', name: 'y' })).toThrow(
      'namespace other of pod other/y is not known to this agent yet',
    );
    // the pod itself known: the controller's decision stands
    expect(isEnrolled(bare, { namespace: 'shop', name: 'x' })).toBe(true);
  });

  it('learns namespace labels through discovery: split into Namespace resources and assembled by the agent', () => {
    const snapshot = snap({
      namespaces: [
        { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
        { name: 'plain', labels: {} },
      ],
      workloads: [],
    });
    const received = assembleSnapshot('v1', snapshotResources(snapshot))!;
    expect(received.namespaces).toEqual([
      { name: 'plain', labels: {} },
      { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    ]);
    expect(isEnrolled(received, { namespace: 'shop', name: 'new-pod' })).toBe(true);
    expect(isEnrolled(received, { namespace: 'plain', name: 'new-pod' })).toBe(false);
    expect(() => isEnrolled(received, { namespace: 'created-just-now', name: 'p' })).toThrow(RetryLater);
  });
});

describe('enrolment answers over the socket', () => {
  let dir: string | undefined;
  let server: EnrolmentServer | undefined;
  afterEach(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    setLogSink(process.stderr);
  });

  it('a pod of an unknown namespace gets {ok:false, retry:true}; once the namespace is known, an answer', async () => {
    setLogSink({ write: () => true });
    dir = mkdtempSync(join(tmpdir(), 'ambit-enrol-'));
    const socket = join(dir, 'agent.sock');
    let snapshot: MeshSnapshot = snap({ workloads: [] });
    server = await startEnrolmentServer(
      socket,
      enrolmentHandler(
        { snapshot: () => snapshot, pods: () => [], enrol: async () => {}, remove: async () => {} },
        { waitMs: 0 },
      ),
    );
    const first = await enrolmentRequest(socket, { op: 'query', namespace: 'shop', name: 'web-1' });
    expect(first).toEqual({
      ok: false,
      retry: true,
      error: expect.stringContaining('namespace shop of pod shop/web-1 is not known'),
    });
    snapshot = snap({ namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }], workloads: [] });
    expect(await enrolmentRequest(socket, { op: 'query', namespace: 'shop', name: 'web-1' })).toEqual({
      ok: true,
      enrolled: true,
      dnsCapture: true,
    });
  });

  it("tells the plugin to leave a pod's DNS alone when the mesh's DNS capture is off or there is no DNS proxy", async () => {
    setLogSink({ write: () => true });
    dir = mkdtempSync(join(tmpdir(), 'ambit-enrol-'));
    const ns = [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }];
    let snapshot: MeshSnapshot = snap({ namespaces: ns, workloads: [], mesh: { dnsCapture: false } });
    const lifecycle = { snapshot: () => snapshot, pods: () => [], enrol: async () => {}, remove: async () => {} };
    server = await startEnrolmentServer(join(dir, 'agent.sock'), enrolmentHandler(lifecycle));
    const ask = (name = 'web-1') =>
      enrolmentRequest(join(dir!, 'agent.sock'), { op: 'query', namespace: 'shop', name });
    expect(await ask()).toEqual({ ok: true, enrolled: true, dnsCapture: false });
    snapshot = snap({ namespaces: ns, workloads: [], mesh: { dnsCapture: true } });
    expect(await ask()).toEqual({ ok: true, enrolled: true, dnsCapture: true });
    // An agent without a DNS proxy (AMBIT_DNS_PORT=0): a redirect would leave the pod without DNS.
    await server.close();
    server = await startEnrolmentServer(join(dir, 'agent.sock'), enrolmentHandler(lifecycle, { dnsProxy: false }));
    expect(await ask()).toEqual({ ok: true, enrolled: true, dnsCapture: false });
  });

  it('with a controller, waits for the pod itself: a waypoint pod pushed during the wait is not captured', async () => {
    setLogSink({ write: () => true });
    dir = mkdtempSync(join(tmpdir(), 'ambit-enrol-'));
    const socket = join(dir, 'agent.sock');
    const ns = [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }];
    let snapshot: MeshSnapshot = snap({ namespaces: ns, workloads: [] });
    server = await startEnrolmentServer(
      socket,
      enrolmentHandler(
        { snapshot: () => snapshot, pods: () => [], enrol: async () => {}, remove: async () => {} },
        { podMustBeKnown: true, waitMs: 2_000 },
      ),
    );
    setTimeout(() => {
      snapshot = snap({
        namespaces: ns,
        workloads: [{ name: 'waypoint-1', namespace: 'shop', ips: [], enrolled: false }],
      });
    }, 300);
    expect(await enrolmentRequest(socket, { op: 'query', namespace: 'shop', name: 'waypoint-1' })).toEqual({
      ok: true,
      enrolled: false,
    });
  });

  it('with a controller, a pod of an ambient namespace that never arrives gets a retry, not a capture', () => {
    const s = snap({ namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }], workloads: [] });
    expect(() => isEnrolled(s, { namespace: 'shop', name: 'late' }, true)).toThrow(/not known to this agent yet/);
    expect(isEnrolled(s, { namespace: 'shop', name: 'late' })).toBe(true);
  });
});
