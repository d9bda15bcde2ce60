// A config source that can fetch a destination it does not hold yet (the controller's
// on-demand discovery). Kept apart from core/xds so that a binary asking "can this source
// look up?" does not load gRPC and the protobuf schemas for it (the agent in file mode).

/** A config source that can fetch a destination it does not hold yet. */
export interface OnDemandLookup {
  /** Resolves once what `address` (an IP or a service hostname) selects is applied; never rejects. */
  lookup(address: string): Promise<void>;
}

export function hasLookup(source: object): source is OnDemandLookup {
  return typeof (source as Partial<OnDemandLookup>).lookup === 'function';
}
