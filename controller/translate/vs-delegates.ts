// Delegate VirtualServices (Istio's VirtualService chaining): an `http[]` route of a root
// VirtualService that names a `delegate` stands for the http routes of that VirtualService
// (one without hosts), merged as Istio merges them. Each delegate route keeps only the root
// matches it narrows (a delegate match must fit inside a root match: a root exact or prefix URI
// holds only equal or longer ones, a regex on either side holds nothing else); a delegate route
// whose every match conflicts is left out. Fields the delegate route leaves unset come from the
// root route. Short names resolve in the namespace of the VirtualService that wrote them.
import { resolveHost } from '../../core/mesh/hosts.js';
import type {
  DestinationSpec,
  HttpMatchSpec,
  HttpRouteSpec,
  StringMatchSpec,
  VirtualServiceObject,
} from './virtual-service-spec.js';

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** `mesh`, `ns/name`, or a short name in the VirtualService's namespace. */
export function gatewayRef(name: string, vsNs: string): string {
  return name === 'mesh' || name.includes('/') ? name : `${vsNs}/${name}`;
}

/** The route with its destination hosts as FQDNs and its match gateways as `ns/name`. */
function qualified(route: HttpRouteSpec, ns: string, domain: string): HttpRouteSpec {
  const dest = (d: DestinationSpec): DestinationSpec => ({ ...d, host: resolveHost(d.host, ns, domain) });
  return {
    ...route,
    ...(route.match
      ? {
          match: route.match.map((m) =>
            m.gateways ? { ...m, gateways: m.gateways.map((g) => gatewayRef(g, ns)) } : m,
          ),
        }
      : {}),
    ...(route.route ? { route: route.route.map((dw) => ({ ...dw, destination: dest(dw.destination) })) } : {}),
    ...(route.mirror ? { mirror: dest(route.mirror) } : {}),
  };
}

/**
 * Whether a delegate's StringMatch asks for more than the root's allows, as Istio decides it:
 * a root exact holds only the same exact, a root prefix only longer prefixes or exacts under it,
 * a regex (on either side) nothing else, and an empty match (`{}`) conflicts with any.
 */
function stringMatchConflicts(root: StringMatchSpec | undefined, leaf: StringMatchSpec | undefined): boolean {
  if (!root || !leaf) return false;
  const leafAny = Boolean(leaf.regex || leaf.prefix || leaf.exact);
  if (root.regex && leafAny) return true;
  if (leaf.regex && (root.regex || root.prefix || root.exact)) return true;
  if (root.exact) return Boolean(leaf.prefix) || leaf.exact !== root.exact;
  if (root.prefix) {
    const narrower = leaf.prefix || leaf.exact;
    if (narrower) return !narrower.startsWith(root.prefix);
  }
  return true;
}

function mapConflicts(
  root: Readonly<Record<string, StringMatchSpec>> | undefined,
  leaf: Readonly<Record<string, StringMatchSpec>> | undefined,
): boolean {
  return Object.entries(leaf ?? {}).some(([k, v]) => stringMatchConflicts(root?.[k], v));
}

/** Whether a delegate match asks for something outside a root match. */
function matchConflicts(root: HttpMatchSpec, leaf: HttpMatchSpec): boolean {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (stringMatchConflicts(root[k], leaf[k])) return true;
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const)
    if (mapConflicts(root[k], leaf[k])) return true;
  if ((root.ignoreUriCase ?? false) !== (leaf.ignoreUriCase ?? false)) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {}))
    if (root.sourceLabels?.[k] !== undefined && root.sourceLabels[k] !== v) return true;
  const rootGateways = root.gateways ?? [];
  const leafGateways = leaf.gateways ?? [];
  return rootGateways.length > 0 && leafGateways.some((g) => !rootGateways.includes(g));
}

const joinedName = (root: string | undefined, leaf: string | undefined): string | undefined =>
  leaf === undefined ? root : root !== undefined ? `${root}-${leaf}` : leaf;

function mergedMatch(root: HttpMatchSpec, leaf: HttpMatchSpec): HttpMatchSpec {
  const merge = <T>(a: Readonly<Record<string, T>> | undefined, b: Readonly<Record<string, T>> | undefined) =>
    a || b ? { ...a, ...b } : undefined;
  const out: Writable<HttpMatchSpec> = { ...root, ...leaf };
  const name = joinedName(root.name, leaf.name);
  if (name !== undefined) out.name = name;
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    const m = merge(root[k], leaf[k]);
    if (m) out[k] = m;
  }
  const labels = merge(root.sourceLabels, leaf.sourceLabels);
  if (labels) out.sourceLabels = labels;
  if (!leaf.gateways?.length && root.gateways) out.gateways = root.gateways;
  return out;
}

/** The merged matches, or undefined when a delegate match fits in no root match. */
function mergedMatches(
  root: readonly HttpMatchSpec[],
  leaf: readonly HttpMatchSpec[],
): readonly HttpMatchSpec[] | undefined {
  if (root.length === 0) return leaf;
  if (leaf.length === 0) return root;
  const out: HttpMatchSpec[] = [];
  for (const l of leaf) {
    const fits = root.filter((r) => !matchConflicts(r, l));
    if (fits.length === 0) return undefined;
    out.push(...fits.map((r) => mergedMatch(r, l)));
  }
  return out;
}

const INHERITED = [
  'rewrite',
  'directResponse',
  'timeout',
  'retries',
  'fault',
  'mirror',
  'mirror_percent',
  'mirrorPercentage',
  'corsPolicy',
  'mirrors',
  'headers',
] as const;

/** The http routes a root route with `delegate` stands for, qualified (FQDN hosts, `ns/name` gateways). */
export function delegatedRoutes(
  root: HttpRouteSpec,
  rootNs: string,
  delegate: VirtualServiceObject,
  domain: string,
): HttpRouteSpec[] {
  const { delegate: _ref, ...base } = qualified(root, rootNs, domain);
  const delegateNs = delegate.metadata.namespace ?? 'default';
  const out: HttpRouteSpec[] = [];
  for (const spec of delegate.spec.http ?? []) {
    const leaf = qualified(spec, delegateNs, domain);
    const match = mergedMatches(base.match ?? [], leaf.match ?? []);
    if (!match) continue;
    const merged: Writable<HttpRouteSpec> = { ...leaf, ...(match.length > 0 ? { match } : {}) };
    const name = joinedName(base.name, leaf.name);
    if (name !== undefined) merged.name = name;
    for (const k of INHERITED)
      if (merged[k] === undefined && base[k] !== undefined) Object.assign(merged, { [k]: base[k] });
    out.push(merged);
  }
  return out;
}
