// Keeps serving the last accepted version of an object whose new version the translator
// rejects: an edit that breaks a DENY policy must not remove the policy (and open traffic).
// Objects that were never accepted stay out, as the translator leaves them.
import { objectKey, type KubeObject } from '../sources/types.js';

/** `Kind/ns/name` of a rejection, the same shape as objectKey. */
export function rejectionKey(r: { kind: string; namespace?: string; name: string }): string {
  return r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
}

export class LastGoodObjects {
  private good = new Map<string, KubeObject>();
  /** The last `remember()`, indexed only when a rejection needs it (most translations have none). */
  private pending: { objects: readonly KubeObject[]; rejected: ReadonlySet<string> } | undefined;

  /**
   * The objects to translate instead of `objects`, with each rejected object replaced by its
   * last accepted version; undefined when there is nothing to replace.
   */
  substitute(
    objects: readonly KubeObject[],
    rejected: ReadonlySet<string>,
  ): { objects: KubeObject[]; replaced: string[] } | undefined {
    if (rejected.size === 0) return undefined;
    if (this.pending) this.index(this.pending.objects, this.pending.rejected);
    this.pending = undefined;
    const replaced: string[] = [];
    const out = objects.map((o) => {
      const key = objectKey(o);
      if (!rejected.has(key)) return o;
      const previous = this.good.get(key);
      if (!previous || previous.apiVersion !== o.apiVersion || JSON.stringify(previous) === JSON.stringify(o)) return o;
      replaced.push(key);
      return previous;
    });
    return replaced.length ? { objects: out, replaced } : undefined;
  }

  /** Remembers what the final translation accepted (objects gone from the input are forgotten). */
  remember(objects: readonly KubeObject[], rejected: ReadonlySet<string>): void {
    this.pending = { objects, rejected };
  }

  private index(objects: readonly KubeObject[], rejected: ReadonlySet<string>): void {
    const next = new Map<string, KubeObject>();
    for (const o of objects) {
      const key = objectKey(o);
      if (!rejected.has(key)) next.set(key, o);
    }
    this.good = next;
  }
}
