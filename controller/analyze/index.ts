// `analyze()`: Istio's configuration analyzers over a set of objects, with Istio's codes and
// levels, plus the translator's rejections as schema errors (IST0106). Pure.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import { translate } from '../translate/index.js';
import type { Rejection } from '../translate/index.js';
import { AnalysisContext } from './context.js';
import { MSG, type Message } from './messages.js';
import { analyzeSelectors, analyzeSidecars } from './workloads.js';
import { analyzeDestinationRules, analyzeGateways, analyzeServiceEntries } from './traffic.js';
import { analyzeUnsupported } from './unsupported.js';
import { analyzeVirtualServices } from './virtual-service.js';

export * from './messages.js';
export { UNAPPLIED_KINDS, UNSUPPORTED_FIELDS } from './unsupported.js';

export interface AnalyzeOptions {
  readonly rootNamespace?: string;
  readonly domain?: string;
  readonly origins?: ReadonlyMap<string, ObjectOrigin>;
}

function rejectionMessage(r: Rejection): Message {
  const origin = {
    kind: r.kind,
    name: r.name,
    ...(r.namespace ? { namespace: r.namespace } : {}),
    ...(r.origin?.file ? { file: r.origin.file } : {}),
    ...(r.origin?.line ? { line: r.origin.line } : {}),
  };
  return {
    type: MSG.SchemaValidationError,
    origin,
    text: `Schema validation error: ${r.field ? `${r.field}: ` : ''}${r.reason}`,
    ...(r.field ? { field: r.field } : {}),
  };
}

export function analyze(objects: readonly KubeObject[], opts: AnalyzeOptions = {}): Message[] {
  const rootNamespace = opts.rootNamespace ?? 'istio-system';
  const domain = opts.domain ?? 'cluster.local';
  const result = translate(objects, {
    mesh: { rootNamespace },
    domain,
    ...(opts.origins ? { origins: opts.origins } : {}),
  });
  const rejected = new Set(result.rejected.map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`));
  // Analyzers see what the API server would hold: the objects validation accepts.
  const accepted = objects.filter(
    (o) =>
      !rejected.has(`${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`) ||
      /IST0109/.test(result.rejected.find((r) => r.kind === o.kind && r.name === o.metadata?.name)?.reason ?? ''),
  );
  const ctx = new AnalysisContext(accepted, {
    rootNamespace,
    domain,
    ...(opts.origins ? { origins: opts.origins } : {}),
  });
  // The translator's mesh-conflict rejection is IST0109, reported by its analyzer (naming both).
  ctx.messages.push(...result.rejected.filter((r) => !/IST0109/.test(r.reason)).map(rejectionMessage));
  analyzeVirtualServices(ctx);
  analyzeSidecars(ctx);
  analyzeSelectors(ctx);
  analyzeDestinationRules(ctx);
  analyzeServiceEntries(ctx);
  analyzeGateways(ctx);
  // What Ambit ignores is named on every object, rejected or not (a fix for one should not hide the other).
  const all = new AnalysisContext(objects, {
    rootNamespace,
    domain,
    ...(opts.origins ? { origins: opts.origins } : {}),
  });
  analyzeUnsupported(all);
  ctx.messages.push(...all.messages);
  return ctx.messages;
}
