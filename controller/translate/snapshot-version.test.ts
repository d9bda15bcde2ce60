// The snapshot version: a list derived from an earlier one through its recorded delta gets the
// version a full pass over it gives, and any content change moves the version.
import { describe, expect, it } from 'vitest';
import type { Workload } from '../../core/model/types.js';
import { snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { recordListDelta } from './list-delta.js';
import { snapshotVersion } from './snapshot-version.js';

const body = (workloads: Workload[]) => {
  const { version: _v, ...rest } = snapshot({ workloads });
  return rest;
};

describe('snapshot version', () => {
  it('updated through list deltas, equals a full pass; changes with content', () => {
    const base = Array.from({ length: 200 }, (_, i) => workload(`w${i}`, `ns${i % 3}`));
    const v0 = snapshotVersion(body(base));
    let prev = base;
    let prevVersion = v0;
    for (let step = 0; step < 20; step++) {
      const next = [...prev];
      const changes: Array<readonly [string, Workload | undefined]> = [];
      const i = (step * 37) % next.length;
      const changed = { ...next[i]!, labels: { app: `a${step}` } };
      next[i] = changed;
      changes.push([changed.uid, changed]);
      if (step % 3 === 0) {
        const added = workload(`extra${step}`);
        next.push(added);
        changes.push([added.uid, added]);
      }
      if (step % 4 === 1) {
        const [gone] = next.splice(step, 1);
        changes.push([gone!.uid, undefined]);
      }
      recordListDelta(next, { base: prev, changes });
      const incremental = snapshotVersion(body(next));
      // A copy of the same items without a delta takes the full pass.
      expect(incremental).toBe(snapshotVersion(body([...next])));
      expect(incremental).not.toBe(prevVersion);
      prev = next;
      prevVersion = incremental;
    }
    // Back to the original content: the original version.
    expect(snapshotVersion(body([...base]))).toBe(v0);
  });
});
