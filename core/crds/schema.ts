// Shared by the controller (decoding and validating objects) and ambitctl (the chart's CRDs).
// A small vocabulary for OpenAPI v3 schemas, so the CRD definitions read like Istio's API
// reference instead of pages of nested YAML. Each schema also carries, in its type only, the
// TypeScript type of the values it accepts: `TypeOf<typeof virtualService>` is what
// `decode()` (decode.ts) returns for a VirtualService's spec, so the schema the chart ships
// and the type the translators read cannot drift apart.

/** Type-only brand: never present at run time, so schemas stay plain JSON. */
declare const VALUE: unique symbol;

export type Schema<T = unknown> = { readonly [key: string]: unknown } & { readonly [VALUE]?: T };

/** The type of the values a schema accepts (after decoding). */
export type TypeOf<S> = S extends Schema<infer T> ? T : never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema, whatever it decodes to
type AnySchema = Schema<any>;
type Props = Readonly<Record<string, AnySchema>>;
type Expand<T> = T extends infer O ? { [K in keyof O]: O[K] } : never;
type ObjectOf<P extends Props, R extends keyof P> = Expand<
  { readonly [K in R]: TypeOf<P[K]> } & { readonly [K in Exclude<keyof P, R>]?: TypeOf<P[K]> }
>;

export const str: Schema<string> = { type: 'string' };
export const int: Schema<number> = { type: 'integer', format: 'int32' };
export const uint: Schema<number> = { type: 'integer', format: 'int32', minimum: 0 };
export const bool: Schema<boolean> = { type: 'boolean' };
export const num: Schema<number> = { type: 'number', format: 'double' };
export const port: Schema<number> = { type: 'integer', minimum: 1, maximum: 65535 };
/** Istio durations: "1s", "500ms", "1.5s", "1h". */
export const duration: Schema<string> = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$' };
export const strings: Schema<readonly string[]> = { type: 'array', items: str };
export const labels: Schema<Readonly<Record<string, string>>> = { type: 'object', additionalProperties: str };
/** Any JSON value kept as is (free-form config such as `pluginConfig`). */
export const anything: Schema<unknown> = { 'x-kubernetes-preserve-unknown-fields': true };

export function arr<T>(items: Schema<T>, extra: Readonly<Record<string, unknown>> = {}): Schema<readonly T[]> {
  return { type: 'array', items, ...extra };
}

/**
 * An object with the given properties. `required` names are guaranteed present in the decoded
 * value (decode reports a missing one). `open: true` keeps fields not listed (Gateway API and
 * Kubernetes objects, of which Ambit reads only a part): they are neither reported nor typed.
 */
export function obj<P extends Props, R extends keyof P & string = never>(
  properties: P,
  extra: { readonly required?: readonly R[]; readonly open?: boolean; readonly [key: string]: unknown } = {},
): Schema<ObjectOf<P, R>> {
  const { open, ...rest } = extra;
  return {
    type: 'object',
    properties,
    ...rest,
    ...(open ? { 'x-kubernetes-preserve-unknown-fields': true } : {}),
  };
}

export function oneOfEnum<V extends string>(...values: V[]): Schema<V> {
  return { type: 'string', enum: values };
}

export function mapOf<T>(values: Schema<T>): Schema<Readonly<Record<string, T>>> {
  return { type: 'object', additionalProperties: values };
}

/** An integer or a string (`x-kubernetes-int-or-string`), as a Service's `targetPort`. */
export const intOrString: Schema<number | string> = { 'x-kubernetes-int-or-string': true };

/** `{value: 0..100}` as Istio's Percent. */
export const percent = obj({ value: { type: 'number', format: 'double', minimum: 0, maximum: 100 } as Schema<number> });

/** Istio StringMatch: exactly one of exact, prefix, regex. */
export const stringMatch = obj({ exact: str, prefix: str, regex: str }, { maxProperties: 1, minProperties: 1 });

export const workloadSelector = obj({ matchLabels: labels });
export const targetRef = obj({ group: str, kind: str, name: str, namespace: str }, { required: ['kind', 'name'] });
