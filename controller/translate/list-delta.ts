// Which items of a list the incremental translator replaced relative to an earlier list
// (name → new item, undefined when removed), so that encoding (controller/push/resources.ts)
// copies the earlier list's encoding and touches only those items.
export interface ListDelta<T> {
  readonly base: readonly T[];
  readonly changes: ReadonlyArray<readonly [string, T | undefined]>;
}

const deltas = new WeakMap<readonly object[], ListDelta<object>>();

export function recordListDelta<T extends object>(list: readonly T[], delta: ListDelta<T>): void {
  deltas.set(list, delta as ListDelta<object>);
}

export function listDeltaOf<T extends object>(list: readonly T[]): ListDelta<T> | undefined {
  return deltas.get(list) as ListDelta<T> | undefined;
}
