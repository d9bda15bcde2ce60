// The controller process, as a class tests can start in-process: source → object store →
// translate (debounced) → discovery push, plus the CA service on the same gRPC server
// (15012, TLS with a certificate from the controller's own CA), metrics (15014) and
// readiness (15021). A translation's rejected objects are logged one per line
// (`Kind/ns/name: field: reason`); the rest of the configuration keeps being served.
import type { CertificateAuthority } from '../core/identity/ca.js';
import { spiffeIdFor, tryParseSpiffeId } from '../core/identity/spiffe.js';
import { createLogger, type Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import type { ComponentRuntime } from '../core/config/component.js';
import { startAdminServers, type AdminServers } from '../core/admin/servers.js';
import type { KubeObject, ObjectSource, SourceEvent } from './sources/types.js';
import { formatRejection, type TranslateResult } from './translate/index.js';
import { notAppliedNotes } from './analyze/not-applied.js';
import { IncrementalTranslator } from './translate/incremental.js';
import { addCertificateService, identitiesAllowedFrom, type Caller } from './ca/service.js';
import { identitiesOnNode } from './ca/node-index.js';
import type { Authenticate } from './ca/auth.js';
import { ObjectStore } from './state/objects.js';
import { LastGoodObjects, rejectionKey } from './state/last-good.js';
import { DiscoveryServer, type DiscoveryServerOptions } from './push/server.js';
import { buildResourceSet, type ResourceSet } from './push/resources.js';
import { createControllerMetrics, type ControllerMetrics } from './push/metrics.js';
import {
  CONTROLLER_NAMESPACE,
  CONTROLLER_SERVICE_ACCOUNT,
  startGrpcServer,
  type ControllerGrpcServer,
} from './push/grpc-server.js';
import { MeshSettingsTracker } from './state/mesh-settings.js';

export interface ControllerOptions {
  source: ObjectSource;
  ca: CertificateAuthority;
  authenticate: Authenticate;
  /** Node that pods without spec.nodeName run on (file mode: this machine). */
  localNode?: string;
  host?: string;
  grpcPort?: number;
  metricsPort?: number;
  readyPort?: number;
  /** Coalescing window of source events before translating (default 100 ms). */
  translateDebounceMs?: number;
  /** Coalescing window of the push server (default 100 ms). */
  pushDebounceMs?: number;
  /** Lifetime of the controller's own serving certificate (renewed at half-life). */
  servingCertTtlSeconds?: number;
  /** Called with the whole object set after each translation (e.g. the waypoint reconciler). */
  onObjects?: (objects: readonly KubeObject[]) => void;
  /** Discovery clients must present a token `authenticate` accepts (default true). */
  discoveryAuth?: boolean;
  /** SPIFFE id on the serving certificate (default: namespace ambit-system, service account ambit-controller). */
  identity?: string;
  /**
   * The mesh settings ConfigMap (Istio's `istio`, key `mesh`) among the source's objects; it
   * wins over the root namespace's. A bad edit keeps the last good settings.
   */
  meshConfigMap?: { readonly namespace: string; readonly name: string };
  log?: Logger;
}

/**
 * Who may open a discovery stream: an agent as the node its token is verified for (kube:
 * its bound pod's node; file: the token file's node); a waypoint with a token of its
 * namespace's identity. An agent's token does not open a waypoint's stream.
 */
export function discoveryAdmission(authenticate: Authenticate): NonNullable<DiscoveryServerOptions['admit']> {
  return async (node, md) => {
    const header = md.get('authorization')[0]?.toString() ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) return 'no "authorization: Bearer <token>" metadata';
    let caller: Caller;
    try {
      caller = await authenticate(token, node.role === 'agent' ? { nodeName: node.name } : {});
    } catch (err) {
      return `token refused: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (caller.kind === 'agent') {
      if (node.role === 'waypoint') {
        const why = "a waypoint uses its own service account's token";
        return `the token of node ${caller.node} cannot subscribe as a waypoint (${why})`;
      }
      if (caller.node !== node.name) return `the token of node ${caller.node} cannot subscribe as node ${node.name}`;
      return undefined;
    }
    if (node.role !== 'waypoint') return `${caller.identity} is not an agent`;
    const ns = tryParseSpiffeId(caller.identity)?.namespace;
    return ns === node.namespace
      ? undefined
      : `${caller.identity} cannot subscribe as the waypoint of namespace ${node.namespace}`;
  };
}

export class Controller implements ComponentRuntime {
  private readonly store = new ObjectStore();
  private readonly log: Logger;
  readonly metrics: ControllerMetrics;
  readonly push: DiscoveryServer;
  private grpc: ControllerGrpcServer | undefined;
  private http: AdminServers | undefined;
  private synced = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private last: TranslateResult | undefined;
  private reported = new Set<string>();
  private notApplied = new Set<string>();
  private translations = 0;
  private resources: ResourceSet | undefined;
  private readonly lastGood = new LastGoodObjects();
  private readonly translator = new IncrementalTranslator();
  private readonly meshSettings: MeshSettingsTracker | undefined;
  /** When the first change not yet translated arrived (for the push latency histogram). */
  private changedAt: number | undefined;

  private constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? createLogger('controller');
    if (opts.meshConfigMap)
      this.meshSettings = new MeshSettingsTracker(
        opts.meshConfigMap,
        opts.ca.trustDomain,
        this.log.child({ component: 'mesh-config' }),
      );
    this.metrics = createControllerMetrics();
    this.push = new DiscoveryServer({
      debounceMs: opts.pushDebounceMs ?? 100,
      metrics: this.metrics,
      log: this.log.child({ component: 'push' }),
      ...(opts.discoveryAuth === false ? {} : { admit: discoveryAdmission(opts.authenticate) }),
    });
  }

  static async start(opts: ControllerOptions): Promise<Controller> {
    const c = new Controller(opts);
    await c.start();
    return c;
  }

  /** Listen, then read the source (Controller.start builds and starts one). */
  async start(): Promise<void> {
    await this.listen();
    await this.opts.source.start((ev) => this.onEvent(ev));
  }

  get ports(): { grpc: number; metrics: number; ready: number } {
    return { grpc: this.grpc?.port ?? 0, metrics: this.http?.metrics?.port ?? 0, ready: this.http?.ready?.port ?? 0 };
  }

  get ca(): CertificateAuthority {
    return this.opts.ca;
  }
  /** The SPIFFE id on the controller's serving certificate (clients pin it). */
  get identity(): string {
    return (
      this.opts.identity ?? spiffeIdFor(this.opts.ca.trustDomain, CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT)
    );
  }
  /** The last successful translation (what is being served). */
  get current(): TranslateResult | undefined {
    return this.last;
  }
  isReady(): boolean {
    return this.synced && this.push.hasConfig;
  }

  ready(): boolean {
    return this.isReady();
  }

  /**
   * The same as stop(), and the deadline is not used: discovery streams are open-ended
   * watches with no work in flight (clients reconnect to another replica and resync), and
   * closing the gRPC server already refuses new calls and lets in-flight CA calls finish
   * for up to 2 s.
   */
  async drain(): Promise<void> {
    await this.stop();
  }

  /** Stop the source, close discovery and the servers; idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.opts.source
      .stop()
      .catch((err: unknown) => this.log.warn('source stop failed', { err: describeError(err) }));
    this.push.close();
    await this.grpc?.close();
    await this.http?.close();
  }

  private async listen(): Promise<void> {
    const host = this.opts.host ?? '0.0.0.0';
    // Renewed at half-life by the gRPC server; 30 days unless told otherwise.
    const issue = () =>
      this.opts.ca.issue(this.identity, { ttlSeconds: this.opts.servingCertTtlSeconds ?? 30 * 24 * 3600 });
    const credentials = await issue();
    const allowed = identitiesAllowedFrom((node) => this.identitiesOn(node));
    this.grpc = await startGrpcServer({
      credentials,
      renew: issue,
      log: this.log,
      host,
      port: this.opts.grpcPort ?? 15012,
      register: [
        (s) => this.push.register(s),
        (s) =>
          addCertificateService(s, {
            ca: this.opts.ca,
            authenticate: this.opts.authenticate,
            identitiesAllowed: allowed,
            log: this.log,
            onIssued: () => this.metrics.certificatesIssued.inc(),
          }),
      ],
    });
    // Metrics (15014, /metrics) and readiness (15021, /healthz/ready: 200 once the first
    // configuration is served, else 503; the body says why) on the shared admin server code.
    this.http = await startAdminServers({
      metrics: { host, port: this.opts.metricsPort ?? 15014 },
      ready: { host, port: this.opts.readyPort ?? 15021 },
      registry: this.metrics.registry,
      isReady: () => this.isReady(),
      readyDetail: () => ({
        synced: this.synced,
        serving: this.push.hasConfig,
        objects: this.store.size,
        translations: this.translations,
        clients: this.push.clients().length,
      }),
      readyAliases: ['/ready'],
      dump: () => ({}),
      log: this.log.child({ component: 'http' }),
    });
    this.log.info('listening', {
      grpc: this.grpc.port,
      metrics: this.http.metrics?.port,
      ready: this.http.ready?.port,
      identity: this.identity,
    });
  }

  /** SPIFFE ids of the workloads scheduled on `node` in the configuration being served. */
  private identitiesOn(node: string): ReadonlySet<string> {
    return identitiesOnNode(this.last?.snapshot.workloads ?? [], node);
  }

  private onEvent(ev: SourceEvent): void {
    if (ev.type === 'ERROR') {
      this.log.warn('input rejected', { err: ev.message, file: ev.origin?.file, line: ev.origin?.line });
    }
    if (ev.type === 'SYNCED') {
      if (!this.synced) this.log.info('source synced', { objects: this.store.size });
      this.synced = true;
      this.translateNow();
      return;
    }
    if (!this.store.apply(ev) || !this.synced) return;
    this.changedAt ??= performance.now();
    this.timer ??= setTimeout(() => this.translateNow(), this.opts.translateDebounceMs ?? 100);
  }

  private translateNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const changedAt = this.changedAt ?? performance.now();
    this.changedAt = undefined;
    let result: TranslateResult;
    let served: TranslateResult;
    try {
      const objects = this.store.objects();
      this.opts.onObjects?.(objects);
      result = this.translate(objects);
      // Only pods changed: no object the not-applied notes read (istio.io kinds, the mesh config).
      const podsOnly = this.translator.lastMode === 'incremental' || this.translator.lastMode === 'unchanged';
      served = result;
      // Rejected edits of objects that were fine before: serve their last good version.
      const swap = this.lastGood.substitute(objects, new Set(result.rejected.map(rejectionKey)));
      if (swap) {
        for (const key of swap.replaced)
          this.log.warn('keeping the last good version of a rejected object', { object: key });
        served = this.translate(swap.objects);
      }
      this.lastGood.remember(swap?.objects ?? objects, new Set(served.rejected.map(rejectionKey)));
      if (!podsOnly) this.reportNotApplied(objects, result.snapshot.mesh.rootNamespace);
    } catch (err) {
      this.log.error('translation failed; the last good configuration keeps serving', { err: describeError(err) });
      return;
    }
    this.translations++;
    this.reportRejections(result);
    this.last = served;
    this.resources = buildResourceSet(served, this.resources);
    this.push.update(this.resources, served.snapshot.version, changedAt);
    // After a full translation, index it for the next pod change while nothing is waiting.
    if (this.translator.lastMode === 'full') setImmediate(() => this.translator.prepare());
  }

  /**
   * Incremental: a pod change rebuilds what the pod affects only (translate/incremental.ts);
   * the result equals a full translation of the same objects.
   */
  private translate(objects: readonly KubeObject[]): TranslateResult {
    return this.translator.translate(objects, {
      mesh: { ...this.meshSettings?.current(objects), trustDomain: this.opts.ca.trustDomain },
      origins: this.store.origins(),
      ...(this.opts.localNode ? { defaultNode: this.opts.localNode } : {}),
    });
  }

  /** Objects read but not applied (EnvoyFilter, Telemetry, unsupported fields): logged once each while they last. */
  private reportNotApplied(objects: readonly KubeObject[], rootNamespace: string): void {
    const now = new Set<string>();
    for (const n of notAppliedNotes(objects, rootNamespace)) {
      now.add(n.text);
      if (!this.notApplied.has(n.text)) {
        this.log.warn('not applied', { object: n.object, code: n.code, field: n.field, reason: n.reason });
      }
    }
    this.notApplied = now;
  }

  /** Logs each rejection once while it lasts, and when it is fixed. */
  private reportRejections(result: TranslateResult): void {
    const now = new Map(result.rejected.map((r) => [formatRejection(r), r]));
    for (const [text, r] of now) {
      if (this.reported.has(text)) continue;
      this.log.warn('object rejected', {
        rejection: text,
        kind: r.kind,
        namespace: r.namespace,
        name: r.name,
        field: r.field,
        reason: r.reason,
        file: r.origin?.file,
        line: r.origin?.line,
      });
    }
    for (const text of this.reported) if (!now.has(text)) this.log.info('rejection cleared', { rejection: text });
    this.reported = new Set(now.keys());
    this.metrics.rejectedObjects.set(now.size);
  }
}
