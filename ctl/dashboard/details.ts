// What the page shows for a clicked node or edge: its routes and policies as
// `ambitctl proxy-config` shows them (the same sectionData over the agent's and waypoints'
// config dumps), the Istio config objects that concern it (from the folder the local mesh's
// controller reads) and what `ambitctl analyze` finds wrong with those objects.
import { stringify } from 'yaml';
import { readManifests } from '../../controller/sources/file-read.js';
import type { KubeObject } from '../../controller/sources/types.js';
import { objectKey } from '../../controller/sources/types.js';
import { analyzePaths } from '../analyze.js';
import { sectionData, type Table } from '../proxy-config.js';
import { WORKLOAD_NAME_LABEL } from '../../core/mesh/vocabulary.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export interface DetailsContext {
  readonly agentDump?: unknown;
  readonly waypointDumps: ReadonlyArray<{ namespace: string; name: string; dump: unknown }>;
  /** The folder the controller reads (local mesh); undefined when unknown. */
  readonly configDir?: string;
  readonly rootNamespace?: string;
}

export interface Details {
  readonly id: string;
  readonly title: string;
  readonly routes: Table;
  readonly policies: Table;
  readonly objects: ReadonlyArray<{ key: string; yaml: string }>;
  readonly findings: readonly string[];
  readonly notes: readonly string[];
}

interface Subject {
  namespace: string;
  labels: Array<Record<string, string>>;
  hostnames: string[];
  names: string[];
  waypoint?: { namespace: string; name: string };
}

function subjectOf(id: string, ctx: DetailsContext): Subject | undefined {
  const m = /^(wl|svc|wp):([^/]+)\/(.+)$/.exec(id);
  if (!m) return undefined;
  const [, type, namespace, name] = m as unknown as [string, string, string, string];
  const dump = rec(ctx.agentDump);
  const workloads = arr(dump.workloads).filter((w) => str(w.namespace) === namespace);
  if (type === 'wl') {
    const mine = workloads.filter((w) => (str(rec(w.labels)[WORKLOAD_NAME_LABEL]) || str(w.name)) === name);
    const services = arr(dump.services).filter(
      (s) =>
        str(s.namespace) === namespace &&
        arr(s.endpoints).some((e) => mine.some((w) => str(w.uid) === str(e.workloadUid))),
    );
    return {
      namespace,
      labels: mine.map((w) => rec(w.labels) as Record<string, string>),
      hostnames: services.map((s) => str(s.hostname)),
      names: [name, ...mine.map((w) => str(w.name)), ...services.map((s) => str(s.name))],
    };
  }
  if (type === 'svc') {
    const svc = arr(dump.services).find((s) => str(s.namespace) === namespace && str(s.name) === name);
    const labels = arr(svc?.endpoints).map((e) => rec(e.labels) as Record<string, string>);
    const wp = rec(svc?.waypoint);
    return {
      namespace,
      labels,
      hostnames: [str(svc?.hostname) || `${name}.${namespace}.svc.cluster.local`],
      names: [name],
      ...(str(wp.name) ? { waypoint: { namespace: str(wp.namespace), name: str(wp.name) } } : {}),
    };
  }
  return { namespace, labels: [], hostnames: [], names: [name], waypoint: { namespace, name } };
}

const selects = (selector: unknown, labels: ReadonlyArray<Record<string, string>>): boolean => {
  const sel = rec(selector);
  const entries = Object.entries(rec(sel.matchLabels ?? sel));
  return labels.some((l) => entries.every(([k, v]) => l[k] === v));
};

/** Does a policy as the dumps hold it (scope namespace/level/selector) apply to the subject? */
function policyApplies(p: Rec, s: Subject, root: string): boolean {
  const scope = rec(p.scope);
  const ns = str(scope.namespace);
  if (scope.level === 'mesh' || ns === root) return true;
  if (ns !== s.namespace) return false;
  if (scope.level !== 'workload') return true;
  return selects(scope.selector, s.labels);
}

/** Does a config object concern the subject? */
function objectConcerns(o: KubeObject, s: Subject, root: string): boolean {
  const ns = o.metadata.namespace ?? 'default';
  const spec = rec(o.spec);
  const shortNames = new Set([
    ...s.names,
    ...s.hostnames,
    ...s.hostnames.map((h) => h.split('.').slice(0, 2).join('.')),
  ]);
  const refs = [...arr(spec.targetRefs), ...(spec.targetRef ? [rec(spec.targetRef)] : []), ...arr(spec.parentRefs)];
  if (
    refs.some(
      (r) =>
        shortNames.has(str(r.name)) ||
        (s.waypoint && str(r.name) === s.waypoint.name && (str(r.kind) || 'Gateway') === 'Gateway'),
    )
  )
    return true;
  switch (o.kind) {
    case 'Namespace':
      return o.metadata.name === s.namespace;
    case 'Service':
      return ns === s.namespace && (s.names.includes(o.metadata.name) || selects(spec.selector, s.labels));
    case 'Deployment':
    case 'Pod':
      return (
        ns === s.namespace &&
        (s.names.includes(o.metadata.name) ||
          s.labels.some((l) =>
            Object.entries(rec(rec(rec(spec.template).metadata).labels ?? o.metadata.labels)).every(
              ([k, v]) => l[k] === v,
            ),
          ))
      );
    case 'Gateway':
      return !!s.waypoint && ns === s.waypoint.namespace && o.metadata.name === s.waypoint.name;
    case 'VirtualService':
      return (Array.isArray(spec.hosts) ? spec.hosts : []).some(
        (h) => shortNames.has(str(h)) && (ns === s.namespace || str(h).includes('.')),
      );
    case 'DestinationRule':
      return shortNames.has(str(spec.host)) && (ns === s.namespace || str(spec.host).includes('.'));
    case 'AuthorizationPolicy':
    case 'PeerAuthentication':
    case 'RequestAuthentication':
    case 'Telemetry':
      if (ns === root) return true;
      if (ns !== s.namespace) return false;
      if (refs.length > 0) return false;
      return spec.selector === undefined || s.labels.length === 0 || selects(spec.selector, s.labels);
    default:
      return false;
  }
}

export async function details(id: string, ctx: DetailsContext): Promise<Details> {
  const root = ctx.rootNamespace ?? 'istio-system';
  // An edge (`a->b`): the destination's routes and policies decide what happens to its traffic.
  const target = id.includes('->') ? id.split('->')[1]! : id;
  const subject = subjectOf(target, ctx);
  const notes: string[] = [];
  if (!subject)
    return {
      id,
      title: target,
      routes: { headers: [], rows: [] },
      policies: { headers: [], rows: [] },
      objects: [],
      findings: [],
      notes: ['no details for this node'],
    };
  if (ctx.agentDump === undefined) notes.push("the agent's admin endpoint did not answer: no proxy config");

  const dump = rec(ctx.agentDump);
  const isWaypoint = target.startsWith('wp:');
  const waypointDumps = ctx.waypointDumps.filter(
    (w) => !subject.waypoint || (w.namespace === subject.waypoint.namespace && w.name === subject.waypoint.name),
  );
  const authz = [
    ...arr(rec(dump.policies).authorization),
    ...waypointDumps.flatMap((w) => arr(rec(w.dump).authorizationPolicies)),
  ];
  const seen = new Set<string>();
  const policies = {
    policies: {
      authorization: authz.filter(
        (p) =>
          (isWaypoint || policyApplies(p, subject, root)) &&
          !seen.has(str(p.key) || str(p.name)) &&
          seen.add(str(p.key) || str(p.name)),
      ),
      peerAuthentication: arr(rec(dump.policies).peerAuthentication).filter((p) => policyApplies(p, subject, root)),
    },
  };
  const hosts = new Set(subject.hostnames);
  const routes = {
    routes: waypointDumps.flatMap((w) => arr(rec(w.dump).routes)).filter((h) => isWaypoint || hosts.has(str(h.host))),
  };

  let objects: Array<{ key: string; yaml: string }> = [];
  let findings: string[] = [];
  if (ctx.configDir) {
    try {
      const read = await readManifests(ctx.configDir);
      const mine = read.documents.map((d) => d.object).filter((o) => objectConcerns(o, subject, root));
      objects = mine.map((o) => ({ key: objectKey(o), yaml: stringify(o) }));
      const keys = new Set(objects.map((o) => o.key));
      findings = (await analyzePaths([ctx.configDir], { rootNamespace: root })).problems.filter((p) =>
        keys.has(p.split(':')[0]!),
      );
    } catch (err) {
      notes.push(`cannot read the mesh's config folder ${ctx.configDir}: ${(err as Error).message}`);
    }
  } else {
    notes.push('config objects and analyze findings need a local mesh (its config folder)');
  }
  return {
    id,
    title: target,
    routes: sectionData(routes, 'routes').table,
    policies: sectionData(policies, 'policies').table,
    objects,
    findings,
    notes,
  };
}
