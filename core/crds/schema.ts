// Shared by the controller (unknown-field checks) and ambitctl (the chart's CRDs).
// A small vocabulary for OpenAPI v3 schemas, so the CRD definitions read like Istio's API
// reference instead of pages of nested YAML.

export type Schema = { readonly [key: string]: unknown };

export const str: Schema = { type: 'string' };
export const int: Schema = { type: 'integer', format: 'int32' };
export const uint: Schema = { type: 'integer', format: 'int32', minimum: 0 };
export const bool: Schema = { type: 'boolean' };
export const num: Schema = { type: 'number', format: 'double' };
export const port: Schema = { type: 'integer', minimum: 1, maximum: 65535 };
/** Istio durations: "1s", "500ms", "1.5s", "1h". */
export const duration: Schema = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$' };
export const strings: Schema = { type: 'array', items: str };
export const labels: Schema = { type: 'object', additionalProperties: str };
/** Any JSON value kept as is (free-form config such as `pluginConfig`). */
export const anything: Schema = { 'x-kubernetes-preserve-unknown-fields': true };

export function arr(items: Schema, extra: Schema = {}): Schema {
  return { type: 'array', items, ...extra };
}

export function obj(properties: Record<string, Schema>, extra: Schema = {}): Schema {
  return { type: 'object', properties, ...extra };
}

export function oneOfEnum(...values: string[]): Schema {
  return { type: 'string', enum: values };
}

export function mapOf(values: Schema): Schema {
  return { type: 'object', additionalProperties: values };
}

/** `{value: 0..100}` as Istio's Percent. */
export const percent: Schema = obj({ value: { type: 'number', format: 'double', minimum: 0, maximum: 100 } });

/** Istio StringMatch: exactly one of exact, prefix, regex. */
export const stringMatch: Schema = obj({ exact: str, prefix: str, regex: str }, { maxProperties: 1, minProperties: 1 });

export const workloadSelector: Schema = obj({ matchLabels: labels });
export const targetRef: Schema = obj(
  { group: str, kind: str, name: str, namespace: str },
  { required: ['kind', 'name'] },
);
