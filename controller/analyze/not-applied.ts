// What the controller tells its log about objects it reads but does not apply: the kinds
// (EnvoyFilter, Telemetry, WasmPlugin, ProxyConfig), Istio fields Ambit ignores, and CUSTOM
// policies whose provider Ambit cannot call (they deny what they match). Pure, cheap enough
// to run on every translation.
import type { KubeObject } from '../sources/types.js';
import { objectKey } from '../sources/types.js';
import { AnalysisContext } from './context.js';
import { analyzeUnsupported } from './unsupported.js';

export interface NotAppliedNote {
  /** `Kind/ns/name: [field: ]reason`, stable while the cause lasts (the log's key). */
  readonly text: string;
  readonly code: string;
  readonly object: string;
  readonly field?: string;
  readonly reason: string;
}

export function notAppliedNotes(objects: readonly KubeObject[], rootNamespace: string): NotAppliedNote[] {
  const ctx = new AnalysisContext(objects, { rootNamespace, domain: 'cluster.local' });
  analyzeUnsupported(ctx);
  return ctx.messages.map((m) => {
    const object = objectKey({
      kind: m.origin.kind,
      metadata: { name: m.origin.name, ...(m.origin.namespace ? { namespace: m.origin.namespace } : {}) },
    });
    return {
      text: `${object}: ${m.field ? `${m.field}: ` : ''}${m.text}`,
      code: m.type.code,
      object,
      ...(m.field ? { field: m.field } : {}),
      reason: m.text,
    };
  });
}
