// The controller's current set of objects, fed by a source's events. Keyed by API group as
// well as kind: Istio's networking.istio.io Gateway and the Gateway API's Gateway share a
// kind name. Also remembers the source's input errors (a file that does not parse) so they
// can be reported while they last.
import { objectKey, type KubeObject, type ObjectOrigin, type SourceEvent } from '../sources/types.js';

interface Entry {
  readonly object: KubeObject;
  readonly origin?: ObjectOrigin;
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');

export function storeKey(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${groupOf(obj.apiVersion)}|${objectKey(obj)}`;
}

export class ObjectStore {
  private readonly entries = new Map<string, Entry>();
  /** Input errors by origin (`file` or `file:line`), latest message. */
  private readonly inputErrors = new Map<string, { message: string; origin?: ObjectOrigin }>();
  private generation = 0;

  /** Applies one event; returns true when the object set changed. */
  apply(event: SourceEvent): boolean {
    switch (event.type) {
      case 'SYNCED':
        return false;
      case 'ERROR': {
        this.inputErrors.set(event.origin?.file ?? event.message, {
          message: event.message,
          ...(event.origin ? { origin: event.origin } : {}),
        });
        return false;
      }
      case 'DELETED': {
        const changed = this.entries.delete(storeKey(event.object));
        if (changed) this.generation++;
        return changed;
      }
      default: {
        const key = storeKey(event.object);
        const old = this.entries.get(key);
        // A file that parses again clears its error.
        if (event.origin?.file) this.inputErrors.delete(event.origin.file);
        if (
          old &&
          sameResource(old.object, event.object) &&
          old.origin?.file === event.origin?.file &&
          old.origin?.line === event.origin?.line
        )
          return false;
        this.entries.set(key, { object: event.object, ...(event.origin ? { origin: event.origin } : {}) });
        this.generation++;
        return true;
      }
    }
  }

  /** Forget an input error (the source reported the file as readable again). */
  clearInputError(file: string): void {
    this.inputErrors.delete(file);
  }

  get size(): number {
    return this.entries.size;
  }
  /** Increases on every change. */
  get version(): number {
    return this.generation;
  }

  objects(): KubeObject[] {
    return [...this.entries.values()].map((e) => e.object);
  }

  /** `objectKey` → where it came from, for the translator's rejections. */
  origins(): Map<string, ObjectOrigin> {
    const out = new Map<string, ObjectOrigin>();
    for (const e of this.entries.values()) if (e.origin) out.set(objectKey(e.object), e.origin);
    return out;
  }

  errors(): Array<{ message: string; origin?: ObjectOrigin }> {
    return [...this.inputErrors.values()];
  }
}

/** Same content: a resourceVersion match when both have one, else deep JSON equality. */
function sameResource(a: KubeObject, b: KubeObject): boolean {
  const ra = a.metadata.resourceVersion;
  const rb = b.metadata.resourceVersion;
  if (ra && rb) return ra === rb;
  return JSON.stringify(a) === JSON.stringify(b);
}
