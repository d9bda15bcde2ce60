// Kube mode: keeps a ServiceAccount, Service and Deployment per waypoint Gateway (class
// `ambit-waypoint`), rendered from the chart's `ambit-waypoint-template` ConfigMap, and
// deletes what belongs to Gateways that are gone. One pass compares the desired objects
// (desired.ts) with the objects carrying our managed-by label and creates, replaces (content
// hash changed) or deletes. Objects of a Gateway with a problem, or all of them while the
// template cannot be read, are left as they are: the last good state keeps serving. An object
// of the same name that we do not manage is never touched (reported instead).
import { createLogger, type Logger } from '../../core/log.js';
import type { KubeObject } from '../sources/types.js';
import {
  desiredState,
  formatProblem,
  GATEWAY_NAME_LABEL,
  HASH_ANNOTATION,
  isWaypointGateway,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MANAGED_KINDS,
  manifestKey,
  TEMPLATE_CONFIGMAP,
  templateFromConfigMap,
  type Manifest,
  type WaypointProblem,
  type WaypointTemplate,
} from './desired.js';
import { KubeWriteError, refOf, type WaypointKubeClient } from './kube-client.js';

export interface ReconcileOptions {
  /** Namespace of the template ConfigMap (the controller's own). */
  readonly templateNamespace: string;
  readonly templateName?: string;
  /** Gateway classes served (default `ambit-waypoint`). */
  readonly classes?: readonly string[];
  readonly log?: Logger;
}

export interface ReconcileResult {
  readonly created: string[];
  readonly replaced: string[];
  readonly deleted: string[];
  readonly problems: WaypointProblem[];
}

const SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/** Fields the API server fills in that a replace must carry over (a Service's cluster IPs are immutable). */
function carryOver(want: Manifest, current: Manifest): Manifest {
  const out: Manifest = { ...want, metadata: { ...want.metadata, resourceVersion: current.metadata.resourceVersion } };
  if (want.kind === 'Service') {
    const cur = (current.spec ?? {}) as Record<string, unknown>;
    const spec = { ...(want.spec as Record<string, unknown>) };
    for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy'])
      if (spec[f] === undefined && cur[f] !== undefined) spec[f] = cur[f];
    out.spec = spec;
  }
  return out;
}

async function readTemplate(
  client: WaypointKubeClient,
  opts: ReconcileOptions,
): Promise<WaypointTemplate | WaypointProblem> {
  const name = opts.templateName ?? TEMPLATE_CONFIGMAP;
  const cm = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: opts.templateNamespace, name });
  if (!cm)
    return {
      kind: 'ConfigMap',
      namespace: opts.templateNamespace,
      name,
      reason: "not found: waypoints are not created or updated until the chart's waypoint template exists",
    };
  return templateFromConfigMap(cm);
}

/** One reconcile pass over the current objects (only waypoint Gateways among them matter). */
export async function reconcileWaypoints(
  client: WaypointKubeClient,
  objects: readonly KubeObject[],
  opts: ReconcileOptions,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { created: [], replaced: [], deleted: [], problems: [] };
  const log = opts.log ?? createLogger('waypoints');
  const gateways = objects.filter((o) => isWaypointGateway(o, opts.classes));
  const present = new Set(gateways.map((g) => `${g.metadata.namespace ?? ''}/${g.metadata.name}`));

  const template = await readTemplate(client, opts);
  const templateOk = !('reason' in template);
  if (!templateOk) result.problems.push(template);
  const desired = templateOk ? desiredState(gateways, template, opts.classes) : undefined;
  if (desired) result.problems.push(...desired.problems);
  const healthy = new Set(desired?.gateways ?? []);

  const existing = new Map<string, Manifest>();
  for (const k of MANAGED_KINDS) {
    for (const m of await client.list(k.apiVersion, k.kind, SELECTOR)) {
      if (m.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) existing.set(manifestKey(m), m); // whatever the client's filtering
    }
  }

  // A list by our selector, not a GET: the chart's RBAC grants list on these kinds, not get.
  const managedByUs = async (key: string): Promise<boolean> => {
    const want = desired?.objects.get(key);
    if (!want) return false;
    const mine = await client.list(want.apiVersion, want.kind, SELECTOR).catch(() => []);
    return mine.some((m) => manifestKey(m) === key && m.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
  };

  const attempt = async (what: string, key: string, op: () => Promise<void>, list: string[]): Promise<void> => {
    try {
      await op();
      list.push(key);
      log.info(`waypoint object ${what}`, { object: key });
    } catch (err) {
      const [kind, namespace, name] = key.split('/') as [string, string, string];
      if (err instanceof KubeWriteError && err.status === 409 && what === 'created' && (await managedByUs(key))) {
        // Another controller replica created it between our list and our create: nothing to do.
        log.debug('waypoint object created by another controller replica', { object: key });
        return;
      }
      const reason =
        err instanceof KubeWriteError && err.status === 409 && what === 'created'
          ? 'already exists and is not managed by the Ambit controller: left alone'
          : `cannot be ${what}: ${(err as Error).message}`;
      result.problems.push({ kind, namespace, name, reason });
    }
  };

  for (const [key, want] of desired?.objects ?? []) {
    const current = existing.get(key);
    if (!current) await attempt('created', key, () => client.create(want), result.created);
    else if (current.metadata.annotations?.[HASH_ANNOTATION] !== want.metadata.annotations?.[HASH_ANNOTATION]) {
      await attempt('replaced', key, () => client.replace(carryOver(want, current)), result.replaced);
    }
  }

  // Delete in reverse creation order: Deployment, Service, ServiceAccount.
  const stale = [...existing.values()].filter((m) => {
    const owner = `${m.metadata.namespace ?? ''}/${m.metadata.labels?.[GATEWAY_NAME_LABEL] ?? ''}`;
    if (!present.has(owner)) return true; // its Gateway is gone
    return healthy.has(owner) && !desired?.objects.has(manifestKey(m)); // e.g. a renamed service account
  });
  const order = (m: Manifest): number => MANAGED_KINDS.findIndex((k) => k.kind === m.kind);
  stale.sort((a, b) => order(b) - order(a));
  for (const m of stale) await attempt('deleted', manifestKey(m), () => client.delete(refOf(m)), result.deleted);
  return result;
}

export interface WaypointReconcilerOptions extends ReconcileOptions {
  readonly client: WaypointKubeClient;
  /** Re-run this often even without Gateway changes (template edits, objects deleted by hand). Default 5 min; 0: never. */
  readonly resyncMs?: number;
}

/**
 * Runs reconcile passes one at a time: `update(objects)` after every change of the object
 * store (cheap when no waypoint Gateway changed), plus a periodic resync.
 */
export class WaypointReconciler {
  private objects: readonly KubeObject[] = [];
  private fingerprint: string | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private pending: Promise<ReconcileResult> | undefined;
  private lastProblems = '';
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly opts: WaypointReconcilerOptions) {
    this.log = opts.log ?? createLogger('waypoints');
    const every = opts.resyncMs ?? 300_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        void this.sync().catch(() => undefined);
      }, every);
      this.timer.unref();
    }
  }

  /** The controller's current objects; a pass runs when the waypoint Gateways among them changed. */
  update(objects: readonly KubeObject[]): void {
    const gws = objects.filter((o) => isWaypointGateway(o, this.opts.classes));
    const fp = JSON.stringify(
      gws.map((g) => [g.metadata.namespace, g.metadata.name, g.metadata.uid, g.metadata.annotations, g.spec]).sort(),
    );
    this.objects = objects;
    if (fp === this.fingerprint) return;
    this.fingerprint = fp;
    void this.sync().catch(() => undefined);
  }

  /** Run a pass now, or right after the one in flight (passes queued meanwhile coalesce into one). */
  sync(): Promise<ReconcileResult> {
    if (this.closed) return Promise.resolve({ created: [], replaced: [], deleted: [], problems: [] });
    if (this.pending) return this.pending; // not started yet: it will see the latest objects
    const next = this.tail
      .catch(() => undefined)
      .then(() => {
        this.pending = undefined;
        return this.pass();
      });
    this.pending = next;
    this.tail = next;
    return next;
  }

  private async pass(): Promise<ReconcileResult> {
    try {
      const r = await reconcileWaypoints(this.opts.client, this.objects, { ...this.opts, log: this.log });
      const problems = r.problems.map(formatProblem).join('\n');
      if (problems !== this.lastProblems)
        for (const p of r.problems) this.log.warn('waypoint problem', { problem: formatProblem(p) });
      this.lastProblems = problems;
      return r;
    } catch (err) {
      this.log.error('waypoint reconcile failed; will retry', { err: (err as Error).message });
      this.fingerprint = undefined; // the next update runs a pass even if nothing changed
      throw err;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }
}
