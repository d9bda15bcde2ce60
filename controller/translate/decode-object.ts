// Each object is decoded once into the typed value its schema describes (core/crds/decode.ts);
// validation and translation read that value, never the raw one. Results are kept per object
// (a WeakMap: the sources hand over the same object until it changes), so a full translation
// decodes only what changed since the last one.
import { decode } from '../../core/crds/decode.js';
import { specSchemaOf } from '../../core/crds/index.js';
import type { Schema } from '../../core/crds/schema.js';
import type { KubeObject } from '../sources/types.js';
import type { Issue } from './validate/common.js';

/** A Kubernetes object whose fields past apiVersion/kind/metadata are those of `B`, decoded. */
export type Decoded<B> = KubeObject & B;

/** An Istio object: `spec` decoded (an absent spec decodes as `{}`). */
export type IstioObject<S> = KubeObject & { readonly spec: S };

export interface DecodeResult<B> {
  /** The decoded object; when `issues` is not empty it holds only what decoded cleanly. */
  readonly value: Decoded<B>;
  readonly issues: readonly Issue[];
}

const cache = new WeakMap<Schema, WeakMap<KubeObject, DecodeResult<unknown>>>();

const HEADER = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Decode the fields of `obj` other than apiVersion, kind and metadata against `body` (an
 * `obj({...})` schema of the top-level fields, e.g. `{spec, status}`), reporting paths as
 * `spec.hosts[0]`.
 */
export function decodeObject<B>(obj: KubeObject, body: Schema<B>): DecodeResult<B> {
  const perSchema = perSchemaFor(body);
  const hit = perSchema.get(obj);
  if (hit) return hit as DecodeResult<B>;
  const issues: Issue[] = [];
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) if (!HEADER.has(key)) rest[key] = value;
  const decoded = decode(body, rest, '', (path, reason) => issues.push({ field: path.replace(/^\./, ''), reason }));
  const value = { ...(decoded as object), apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata };
  const result: DecodeResult<B> = { value: value as Decoded<B>, issues };
  perSchema.set(obj, result);
  return result;
}

const istioBodies = new Map<Schema, Schema>();

/** The body schema of an Istio kind: its CRD's `spec` schema (required: `{}` when absent) and any `status`. */
function istioBody(spec: Schema): Schema {
  let body = istioBodies.get(spec);
  if (!body) {
    body = {
      type: 'object',
      properties: { spec, status: { 'x-kubernetes-preserve-unknown-fields': true } },
    };
    istioBodies.set(spec, body);
  }
  return body;
}

/**
 * Decode an Istio object of a kind whose CRD the chart installs (core/crds), or undefined for
 * a kind Ambit has no schema for.
 */
export function decodeIstioObject<S>(obj: KubeObject, spec: Schema<S>): DecodeResult<{ readonly spec: S }> {
  type Result = DecodeResult<{ readonly spec: S }>;
  const body = istioBody(spec);
  if (obj.spec !== undefined && obj.spec !== null) return decodeObject(obj, body) as Result;
  const perSchema = perSchemaFor(body);
  const hit = perSchema.get(obj);
  if (hit) return hit as Result;
  const empty = decodeObject({ ...obj, spec: {} }, body) as Result;
  // A kind with required spec fields (DestinationRule's host) needs its spec.
  const result: Result =
    empty.issues.length > 0 ? { ...empty, issues: [{ field: 'spec', reason: 'required field is missing' }] } : empty;
  perSchema.set(obj, result);
  return result;
}

function perSchemaFor(body: Schema): WeakMap<KubeObject, DecodeResult<unknown>> {
  let perSchema = cache.get(body);
  if (!perSchema) cache.set(body, (perSchema = new WeakMap()));
  return perSchema;
}

/** The CRD spec schema of an Istio object's group and kind, if Ambit installs that CRD. */
export function istioSpecSchema(obj: KubeObject): Schema | undefined {
  const apiVersion = obj.apiVersion ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return specSchemaOf(group, obj.kind);
}
