// The controller reads Kubernetes objects from a source: the API server (kube) or a folder
// of YAML (file). Both produce the same stream of events.

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A Kubernetes object as it comes off the wire: apiVersion, kind, metadata, the rest untyped. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** Where an object came from, for error messages (`file:line` or `kube`). */
export interface ObjectOrigin {
  readonly file?: string;
  readonly line?: number;
}

export type SourceEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: KubeObject; readonly origin?: ObjectOrigin }
  /** The initial list is complete (kube: every informer synced; file: the folder read). */
  | { readonly type: 'SYNCED' }
  /** Input that could not be read; the rest keeps serving. */
  | { readonly type: 'ERROR'; readonly message: string; readonly origin?: ObjectOrigin };

export interface ObjectSource {
  start(onEvent: (event: SourceEvent) => void): Promise<void>;
  stop(): Promise<void>;
}

/** `kind/namespace/name` (namespace omitted for cluster-scoped objects). */
export function objectKey(obj: Pick<KubeObject, 'kind' | 'metadata'>): string {
  return obj.metadata.namespace
    ? `${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`
    : `${obj.kind}/${obj.metadata.name}`;
}
