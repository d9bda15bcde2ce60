// Unknown fields, reported with their path as `kubectl --validate=strict` does, from the same
// schemas the chart's CRDs carry (core/crds). Types and values are the validators' business.
import { specSchemaOf } from '../../../core/crds/index.js';
import type { Schema } from '../../../core/crds/schema.js';
import type { Issues } from './common.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function checkUnknownFields(issues: Issues, at: string, value: unknown, schema: Schema): void {
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return;
  const props = schema.properties as Record<string, Schema> | undefined;
  const additional = schema.additionalProperties as Schema | undefined;
  const items = schema.items as Schema | undefined;
  if (isRecord(value) && (props || additional)) {
    for (const [key, child] of Object.entries(value)) {
      const sub = props?.[key] ?? additional;
      if (!sub) issues.add(`${at}.${key}`, `unknown field "${key}"`);
      else checkUnknownFields(issues, `${at}.${key}`, child, sub);
    }
  } else if (Array.isArray(value) && items) {
    value.forEach((v, i) => checkUnknownFields(issues, `${at}[${i}]`, v, items));
  }
}

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** Unknown fields of an Istio object (its `spec` against its CRD's schema, and top-level keys). */
export function checkObjectSchema(issues: Issues, obj: { readonly apiVersion?: string; readonly kind: string }): void {
  const apiVersion = obj.apiVersion ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const schema = specSchemaOf(group, obj.kind);
  if (!schema) return;
  for (const key of Object.keys(obj)) if (!TOP_LEVEL.has(key)) issues.add(key, `unknown field "${key}"`);
  checkUnknownFields(issues, 'spec', (obj as { spec?: unknown }).spec, schema);
}
