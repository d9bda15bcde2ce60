import { describe, expect, it } from 'vitest';
import { parseSnapshotText } from './config/snapshot-file.js';
import { isEnrolled } from './enrolment-handler.js';

const snap = (doc: Record<string, unknown>) => parseSnapshotText(JSON.stringify(doc), 'v', 'test');

describe('enrolment decision', () => {
  const s = snap({
    namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }, { name: 'legacy', labels: {} }, { name: 'istio', labels: { 'istio.io/dataplane-mode': 'ambient' } }],
    workloads: [{ name: 'pinned', namespace: 'legacy', ips: [], enrolled: true }],
  });

  it('follows the namespace label (and Istio alias), with the pod opt-out winning', () => {
    expect(isEnrolled(s, { namespace: 'shop', name: 'a' }, [])).toBe(true);
    expect(isEnrolled(s, { namespace: 'istio', name: 'a' }, [])).toBe(true);
    expect(isEnrolled(s, { namespace: 'legacy', name: 'a' }, [])).toBe(false);
    expect(isEnrolled(s, { namespace: 'shop', name: 'a', labels: { 'mesh-mode': 'none' } }, [])).toBe(false);
    expect(isEnrolled(s, { namespace: 'legacy', name: 'a', labels: { 'istio.io/dataplane-mode': 'ambient' } }, [])).toBe(true);
  });

  it("uses the mesh's view of a known pod", () => {
    expect(isEnrolled(s, { namespace: 'legacy', name: 'pinned' }, [])).toBe(true);
  });

  it('without namespace labels, a namespace with enrolled workloads or pods counts as ambient', () => {
    const bare = snap({ workloads: [{ name: 'x', namespace: 'shop', ips: [], enrolled: true }] });
    expect(isEnrolled(bare, { namespace: 'shop', name: 'y' }, [])).toBe(true);
    expect(isEnrolled(bare, { namespace: 'other', name: 'y' }, [])).toBe(false);
    expect(isEnrolled(bare, { namespace: 'other', name: 'y' }, [{ uid: 'u', name: 'z', namespace: 'other', netnsPath: '/x', ips: [] }])).toBe(true);
  });
});
