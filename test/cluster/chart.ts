// The chart as a user installs it: rendered by the real helm (`ambitctl manifest generate`
// runs the same command), split into CRDs (served by the API server, as the apiextensions
// server would) and objects (created through the API as `helm install` does).
import { parseAllDocuments } from 'yaml';
import { helmTemplateArgs, runTool } from '../../ctl/chart/render.js';
import type { FakeObject, ServedResource } from '../support/fake-apiserver.js';

export const RELEASE_NAMESPACE = 'ambit-system';

export interface RenderedChart {
  readonly profile: string;
  readonly crds: ServedResource[];
  readonly objects: FakeObject[];
}

export async function renderChart(profile: string, set: readonly string[] = []): Promise<RenderedChart> {
  const text = await runTool(
    'helm',
    helmTemplateArgs({ profile, namespace: RELEASE_NAMESPACE, includeCrds: true, set }),
  );
  const crds: ServedResource[] = [];
  const objects: FakeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`helm template (${profile}) printed invalid YAML: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as FakeObject | null;
    if (!o || typeof o !== 'object' || !o.kind) continue;
    if (o.kind === 'CustomResourceDefinition') crds.push(servedCrd(o));
    else objects.push(o);
  }
  return { profile, crds, objects };
}

interface CrdSpec {
  group: string;
  scope: string;
  names: { plural: string; kind: string };
  versions: Array<{ name: string; served?: boolean }>;
}

function servedCrd(o: FakeObject): ServedResource {
  const s = o.spec as CrdSpec;
  return {
    group: s.group,
    versions: s.versions.filter((v) => v.served !== false).map((v) => v.name),
    plural: s.names.plural,
    kind: s.names.kind,
    namespaced: s.scope === 'Namespaced',
    crd: true,
  };
}

/** Gateway API, as a cluster with it installed serves it (not part of the chart). */
export const GATEWAY_API: readonly ServedResource[] = [
  {
    group: 'gateway.networking.k8s.io',
    versions: ['v1', 'v1beta1'],
    plural: 'gateways',
    kind: 'Gateway',
    namespaced: true,
    crd: true,
  },
  {
    group: 'gateway.networking.k8s.io',
    versions: ['v1', 'v1beta1'],
    plural: 'httproutes',
    kind: 'HTTPRoute',
    namespaced: true,
    crd: true,
  },
  {
    group: 'gateway.networking.k8s.io',
    versions: ['v1', 'v1beta1'],
    plural: 'gatewayclasses',
    kind: 'GatewayClass',
    namespaced: false,
    crd: true,
  },
];
