// The node agent: config → MeshState; enrolled pods → listeners in their netns; the proxy
// handlers; the enrolment server the CNI plugin talks to; SOCKS5; drain on shutdown.
import { lstat, stat } from 'node:fs/promises';
import type net from 'node:net';
import { connect as connectUnix, isIP } from 'node:net';
import { certificateExpiries, type AgentConfigDump } from '../core/admin/dump.js';
import type { ComponentRuntime } from '../core/config/component.js';
import type { ConfigSource } from '../core/config/source.js';
import { hasLookup } from '../core/config/on-demand.js';
import { startEnrolmentServer, type EnrolmentServer, type PodInfo } from '../core/enrolment/index.js';
import { AmbitError, describeError } from '../core/errors.js';
import { HbonePool } from '../core/hbone/index.js';
import { spiffeIdFor } from '../core/identity/spiffe.js';
import type { Credentials } from '../core/identity/types.js';
import { createLogger, type Logger } from '../core/log.js';
import type { MeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { MeshSnapshot } from '../core/model/types.js';
import { DEFAULT_MESH_CONFIG } from '../core/model/types.js';
import type { AgentSettings } from './config/env.js';
import { enrolmentHandler } from './enrolment-handler.js';
import { startMallocTrim, type MallocTrimmer } from '../core/runtime/malloc-trim.js';
import { memoryAddon } from '../core/runtime/memory-addon.js';
import { nativePodNet } from './inpod/native-pod-net.js';
import { PodListeners } from './inpod/pod-listeners.js';
import { NameTable } from './dns/name-table.js';
import { DnsProxy } from './dns/proxy.js';
import { Forwarder, parseUpstreams, systemUpstreams } from './dns/upstream.js';
import { ConnectionTracker } from './proxy/connections.js';
import type { PodContext, ProxyContext } from './proxy/context.js';
import type { PodNet } from './proxy/pod-net.js';
import { handleHboneRequest } from './proxy/inbound.js';
import { handleOutbound } from './proxy/outbound.js';
import { handlePlaintextInbound } from './proxy/plaintext-inbound.js';
import { createSocks5Server } from './proxy/socks5.js';
import { MeshState, type LocalWorkload } from './state/mesh-state.js';
import { PodRegistry } from './state/pod-registry.js';

/** What the agent needs from a certificate store (core/identity CertificateStore fits). */
export interface AgentCertificates {
  get(identity: string): Promise<Credentials>;
  current(identity: string): Credentials | undefined;
  forget(identity: string): void;
  expiries(): Array<{ identity: string; notAfter: Date }>;
  close(): void;
}

export interface AgentDeps {
  settings: AgentSettings;
  config: ConfigSource;
  certs: AgentCertificates;
  /** Istio TCP metrics and ambit_* counters; none when absent. */
  metrics?: MeshMetrics;
  log?: Logger;
  /** Sockets in the pods' namespaces; the netns addon unless a test injects another. */
  podNet?: PodNet;
}

interface PodEntry {
  ctx: PodContext;
  listeners: PodListeners;
}

const EMPTY: MeshSnapshot = {
  version: '',
  mesh: DEFAULT_MESH_CONFIG,
  workloads: [],
  services: [],
  authorizationPolicies: [],
  peerAuthentications: [],
};

export class Agent implements ComponentRuntime {
  readonly tracker: ConnectionTracker;
  readonly log: Logger;
  private readonly settings: AgentSettings;
  private readonly config: ConfigSource;
  private readonly certs: AgentCertificates;
  private readonly metrics: MeshMetrics | undefined;
  private readonly registry: PodRegistry;
  private readonly pool: HbonePool;
  private readonly pods = new Map<string, PodEntry>();
  /** Serialises add/delete per pod uid. */
  private readonly podOps = new Map<string, Promise<void>>();
  private state = new MeshState(EMPTY);
  /** Mesh names the DNS proxy answers, rebuilt with each snapshot. */
  private names = new NameTable(EMPTY);
  readonly dns: DnsProxy;
  private enrolment: EnrolmentServer | undefined;
  private socks5: net.Server | undefined;
  /** Open SOCKS5 client connections (closed when the drain deadline passes). */
  private readonly socksSockets = new Set<net.Socket>();
  private configLoaded = false;
  private replayed = false;
  private draining = false;
  private stopped = false;
  /** Set by drain(): how long stop() waits for graceful closes before resetting. */
  private closeGraceMs = 50;
  private socksClosed: Promise<unknown> = Promise.resolve();
  /** Returns freed native memory (TLS/HTTP/2 buffers) to the kernel after a load. */
  private trimmer: MallocTrimmer | undefined;
  /** Enrolments and removals so far (activity for the trimmer). */
  private podChanges = 0;
  readonly proxy: ProxyContext;

  constructor(deps: AgentDeps) {
    this.settings = deps.settings;
    this.config = deps.config;
    this.certs = deps.certs;
    this.metrics = deps.metrics;
    this.log = deps.log ?? createLogger('agent', { node: deps.settings.nodeName });
    this.tracker = new ConnectionTracker(deps.metrics, this.log.child({ component: 'agent-proxy' }), () => this.state);
    this.registry = new PodRegistry(deps.settings.stateDir);
    this.pool = new HbonePool({ log: this.log.child({ component: 'hbone-pool' }) });
    const config = deps.config;
    this.proxy = {
      state: () => this.state,
      ...(hasLookup(config) ? { lookup: (address: string) => config.lookup(address) } : {}),
      credentials: (identity) => this.certs.get(identity),
      pool: this.pool,
      tracker: this.tracker,
      ports: this.settings.ports,
      log: this.log,
      net: deps.podNet ?? nativePodNet,
    };
    this.dns = new DnsProxy({
      names: () => this.names,
      capture: () => this.state.snapshot.mesh.dnsCapture !== false,
      upstream: new Forwarder({
        servers: this.settings.dnsUpstreams ? parseUpstreams(this.settings.dnsUpstreams) : systemUpstreams(),
      }),
      log: this.log.child({ component: 'dns' }),
      ...(deps.metrics ? { registry: deps.metrics.registry } : {}),
      // On-demand discovery: a name the agent does not hold yet is asked for before it goes upstream.
      ...(hasLookup(config) ? { lookup: (name: string) => config.lookup(name) } : {}),
    });
    this.metrics?.setCertificateSource(() => this.certs.expiries());
    this.metrics?.setPoolSource(() => {
      const st = this.pool.stats();
      return { hbone_connections: st.connections, hbone_streams: st.activeStreams };
    });
  }

  /** Config first (pods need identities and policy), then replay persisted pods, then accept CNI requests. */
  async start(): Promise<void> {
    await this.config.start((s) => this.applySnapshot(s));
    this.configLoaded = true;
    await this.replay();
    this.replayed = true;
    // Activity: connections opened and closed, and pods enrolled or removed (each enrolment
    // leaves key generation, CSR and TLS context garbage behind).
    const memory = memoryAddon();
    if ('reason' in memory) this.log.debug('memory is not given back after a load', { reason: memory.reason });
    const addon = 'addon' in memory ? memory.addon : undefined;
    this.trimmer = startMallocTrim({
      trim: addon && (() => addon.mallocTrim()),
      activity: () => {
        const c = this.tracker.counts();
        return c.opened + c.closed + this.podChanges;
      },
    });
    try {
      this.enrolment = await this.startEnrolment();
    } catch (err) {
      if (!/another process is serving/.test((err as Error).message)) throw err;
      // A restart with overlap: the old agent still serves CNI requests; its pods are served
      // by both agents (SO_REUSEPORT) until it drains. Take the socket once it lets go.
      this.log.warn('another agent serves the enrolment socket; taking it over when that agent stops', {
        socket: this.settings.enrolmentSocket,
      });
      void this.takeOverEnrolment();
    }
    if (this.settings.ports.socks5 > 0) {
      const identity = spiffeIdFor(
        this.settings.trustDomain,
        this.settings.socks5Namespace,
        this.settings.socks5ServiceAccount,
      );
      this.socks5 = createSocks5Server(this.proxy, { identity, namespace: this.settings.socks5Namespace });
      this.socks5.on('connection', (s: net.Socket) => {
        this.socksSockets.add(s);
        s.once('close', () => this.socksSockets.delete(s));
      });
      await new Promise<void>((resolve, reject) => {
        this.socks5!.once('error', reject);
        this.socks5!.listen(this.settings.ports.socks5, this.settings.localHost, () => {
          this.socks5!.off('error', reject);
          resolve();
        });
      });
    }
    this.log.info('agent started', { pods: this.pods.size, socket: this.settings.enrolmentSocket });
  }

  private startEnrolment(): Promise<EnrolmentServer> {
    return startEnrolmentServer(
      this.settings.enrolmentSocket,
      enrolmentHandler(
        {
          snapshot: () => this.state.snapshot,
          pods: () => this.registry.all(),
          enrol: (pod) => this.enrol(pod),
          remove: (uid) => this.remove(uid),
        },
        { podMustBeKnown: this.settings.controller !== undefined, dnsProxy: Boolean(this.settings.ports.dns) },
      ),
      { log: this.log.child({ component: 'enrolment' }) },
    );
  }

  /**
   * Poll until the other agent's socket is gone (it unlinks it when it stops), then serve it.
   * A socket file that stays dead for 2 s was left by a crashed agent and is taken over too.
   * Waiting for the file to disappear, not just to stop answering, keeps the old agent's
   * unlink from removing the new socket.
   */
  private async takeOverEnrolment(): Promise<void> {
    let deadFor = 0;
    while (!this.draining && !this.enrolment) {
      await new Promise((r) => setTimeout(r, 100));
      const st = await lstat(this.settings.enrolmentSocket).catch(() => undefined);
      if (st) {
        const alive = await new Promise<boolean>((resolve) => {
          const probe = connectUnix(this.settings.enrolmentSocket);
          probe.once('connect', () => {
            probe.destroy();
            resolve(true);
          });
          probe.once('error', () => resolve(false));
        });
        deadFor = alive ? 0 : deadFor + 100;
        if (alive || deadFor < 2000) continue;
      }
      try {
        const server = await this.startEnrolment();
        if (this.draining) {
          await server.close();
          return;
        }
        this.enrolment = server;
        this.log.info('enrolment socket taken over', { socket: this.settings.enrolmentSocket });
      } catch (err) {
        this.log.debug('enrolment socket not yet free', { err: describeError(err) });
      }
    }
  }

  ready(): boolean {
    return this.configLoaded && this.replayed && !this.draining;
  }
  snapshot(): MeshSnapshot {
    return this.state.snapshot;
  }

  applySnapshot(s: MeshSnapshot): readonly string[] {
    this.state = new MeshState(s, (ip) => this.localWorkload(ip), this.settings.ports.hbone);
    this.names = new NameTable(s);
    this.metrics?.configApplied(s.version);
    for (const entry of this.pods.values()) entry.ctx = this.podContext(entry.ctx.pod);
    // The snapshot is applied either way (a policy part that does not compile fails closed), so
    // problems are logged rather than returned: a returned problem means "not applied" (NACK).
    for (const p of this.state.authz.problems) {
      this.log.warn('authorization policy part fails closed', { policy: p.policy, field: p.field, reason: p.reason });
    }
    return [];
  }

  private localWorkload(ip: string): LocalWorkload | undefined {
    const pod = this.registry.byIp(ip);
    if (!pod) return undefined;
    return this.pods.get(pod.uid)?.ctx.workload ?? this.podContext(pod).workload;
  }

  /** The pod's identity and labels: the mesh's view of the workload wins over what the CNI sent. */
  private podContext(pod: PodInfo): PodContext {
    const w =
      this.state.workloadByUid(`Pod/${pod.namespace}/${pod.name}`) ??
      this.state.snapshot.workloads.find((x) => x.namespace === pod.namespace && x.name === pod.name);
    const serviceAccount = w?.serviceAccount ?? pod.serviceAccount ?? 'default';
    const identity = spiffeIdFor(this.settings.trustDomain, pod.namespace, serviceAccount);
    const labels = { ...(w?.labels ?? {}), ...(pod.labels ?? {}) };
    return {
      pod,
      identity,
      workload: { namespace: pod.namespace, name: pod.name, identity, ips: pod.ips, labels, serviceAccount },
    };
  }

  private serial(uid: string, op: () => Promise<void>): Promise<void> {
    const prev = this.podOps.get(uid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(op);
    this.podOps.set(uid, next);
    void next
      .catch(() => undefined)
      .then(() => {
        if (this.podOps.get(uid) === next) this.podOps.delete(uid);
      });
    return next;
  }

  /** Resolves when the pod's listeners are up and its certificate is held (the CNI add is acked then). */
  enrol(pod: PodInfo, persist = true): Promise<void> {
    return this.serial(pod.uid, async () => {
      if (this.draining)
        throw new AmbitError('AMBIT_E_INTERNAL', 'the agent is shutting down', {
          hint: 'retry when the new agent is up',
        });
      const old = this.pods.get(pod.uid);
      if (old) {
        this.pods.delete(pod.uid);
        await old.listeners.close();
      }
      const entry = { ctx: this.podContext(pod) } as PodEntry;
      await this.certs.get(entry.ctx.identity);
      const log = this.log.child({ pod: `${pod.namespace}/${pod.name}` });
      entry.listeners = await PodListeners.open({
        netnsPath: pod.netnsPath,
        ports: this.settings.ports,
        families: ipFamilies(pod.ips),
        credentials: () => {
          const creds = this.certs.current(entry.ctx.identity);
          if (!creds) throw new AmbitError('AMBIT_E_CERT', `no valid certificate held for ${entry.ctx.identity}`);
          return creds;
        },
        trustDomain: this.settings.trustDomain,
        handlers: {
          outbound: (s) => handleOutbound(this.proxy, entry.ctx, s),
          inboundPlaintext: (s) => handlePlaintextInbound(this.proxy, entry.ctx, s),
          hbone: (req) => handleHboneRequest(this.proxy, entry.ctx, req),
        },
        log,
        ...(this.settings.ports.dns
          ? {
              dns: {
                port: this.settings.ports.dns,
                proxy: this.dns,
                client: () => ({
                  namespace: entry.ctx.pod.namespace,
                  families: ipFamilies(entry.ctx.pod.ips),
                  workload: entry.ctx.workload,
                }),
              },
            }
          : {}),
      });
      this.pods.set(pod.uid, entry);
      this.podChanges++;
      if (persist) await this.registry.put(pod);
      log.info('pod serving', { identity: entry.ctx.identity, ips: pod.ips, netns: pod.netnsPath });
    });
  }

  /** Forget a pod (CNI DEL); succeeds for an unknown uid. */
  remove(uid: string): Promise<void> {
    return this.serial(uid, async () => {
      const entry = this.pods.get(uid);
      this.pods.delete(uid);
      this.podChanges++;
      await this.registry.remove(uid);
      if (!entry) return;
      await entry.listeners.close();
      const identity = entry.ctx.identity;
      if (![...this.pods.values()].some((e) => e.ctx.identity === identity)) this.certs.forget(identity);
      this.log.info('pod removed', { pod: `${entry.ctx.pod.namespace}/${entry.ctx.pod.name}` });
    });
  }

  /** Re-create listeners for persisted pods whose netns still exists; drop the others. */
  private async replay(): Promise<void> {
    const { pods, problems } = await this.registry.load();
    for (const p of problems) this.log.warn('pod registry entry skipped', { problem: p });
    // In parallel: each pod waits for its certificate, and pods of one identity share the request.
    await Promise.all(
      pods.map(async (pod) => {
        const exists = await stat(pod.netnsPath).then(
          () => true,
          () => false,
        );
        if (!exists) {
          this.log.info('pod gone while the agent was down; forgetting it', {
            pod: `${pod.namespace}/${pod.name}`,
            netns: pod.netnsPath,
          });
          await this.registry.remove(pod.uid);
          return;
        }
        try {
          await this.enrol(pod, false);
        } catch (err) {
          // A port held without SO_REUSEPORT (an older agent still running): serve the pod as
          // soon as that agent lets the port go.
          if (portInUse(err)) {
            this.log.warn('pod ports held by another process; retrying until they are free', {
              pod: `${pod.namespace}/${pod.name}`,
            });
            void this.retryEnrol(pod);
            return;
          }
          this.log.error('cannot serve a persisted pod again', {
            pod: `${pod.namespace}/${pod.name}`,
            err: describeError(err),
          });
        }
      }),
    );
    if (pods.length > 0) this.log.info('pods replayed', { serving: this.pods.size, persisted: pods.length });
  }

  private async retryEnrol(pod: PodInfo): Promise<void> {
    while (!this.draining && !this.pods.has(pod.uid) && this.registry.all().some((p) => p.uid === pod.uid)) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        await this.enrol(pod, false);
        this.log.info('pod serving after its ports were freed', { pod: `${pod.namespace}/${pod.name}` });
        return;
      } catch (err) {
        if (!portInUse(err)) {
          this.log.error('cannot serve a persisted pod again', {
            pod: `${pod.namespace}/${pod.name}`,
            err: describeError(err),
          });
          return;
        }
      }
    }
  }

  /**
   * Stop accepting and let open connections finish within `deadlineMs`, keeping the last
   * tenth (at most 2 s) for stop() to close what is still open. Resolves at once when
   * nothing is open.
   */
  async drain(deadlineMs = this.settings.drainMs): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.closeGraceMs = Math.min(2000, Math.max(50, deadlineMs / 10));
    this.log.info('draining', { connections: this.tracker.counts().active, deadlineMs });
    await this.enrolment?.close();
    this.socksClosed = this.socks5 ? new Promise((r) => this.socks5!.close(r)) : Promise.resolve();
    const entries = [...this.pods.values()];
    await Promise.all(entries.map((e) => e.listeners.stopAccepting()));
    // GOAWAY to the HBONE peers so they open no new streams here; not awaited: a peer's idle
    // pooled connection must not hold the drain.
    for (const e of entries) void e.listeners.drain().catch(() => undefined);
    const left = await this.tracker.waitIdle(Math.max(0, deadlineMs - this.closeGraceMs));
    if (left > 0) this.log.warn('drain deadline reached; closing the remaining connections', { open: left });
  }

  /** Close what the drain left open (a drain with no time first if none ran); idempotent. */
  async stop(): Promise<void> {
    if (!this.draining) await this.drain(0);
    if (this.stopped) return;
    this.stopped = true;
    this.trimmer?.stop();
    const closeGraceMs = this.closeGraceMs;
    const entries = [...this.pods.values()];
    for (const s of this.socksSockets) s.resetAndDestroy();
    await Promise.all(entries.map((e) => e.listeners.close()));
    this.pods.clear();
    // Graceful closes wait for every stream; past the drain they get the short grace, then the
    // pool is reset, so a stuck stream can never keep the agent from exiting.
    const closing = Promise.all([
      this.socksClosed,
      this.pool.close(),
      this.config.stop(),
      this.tracker.waitIdle(closeGraceMs),
    ]).then(() => false);
    const grace = new Promise<boolean>((r) => setTimeout(() => r(true), closeGraceMs).unref());
    if (await Promise.race([closing, grace])) {
      this.log.warn('closing took longer than the grace; resetting what is left');
      this.pool.destroy();
    }
    this.certs.close();
    this.log.info('agent stopped');
  }

  /** drain then stop, all within `deadlineMs`. */
  async shutdown(deadlineMs = this.settings.drainMs): Promise<void> {
    await this.drain(deadlineMs);
    await this.stop();
  }

  /** For the admin config_dump. */
  dump(): AgentConfigDump {
    const s = this.state.snapshot;
    return {
      version: s.version,
      mesh: s.mesh,
      pods: [...this.pods.values()].map((e) => ({ ...e.ctx.pod, identity: e.ctx.identity })),
      workloads: s.workloads,
      services: s.services,
      policies: { authorization: s.authorizationPolicies, peerAuthentication: s.peerAuthentications },
      certificates: certificateExpiries(this.certs.expiries()),
      connections: this.tracker.counts(),
      refusals: this.tracker.refusalCounts(),
      pool: this.pool.stats(),
    };
  }

  connections(): unknown {
    return { active: this.tracker.active(), counts: this.tracker.counts(), refusals: this.tracker.refusalCounts() };
  }
}

/** The address families of a pod's IPs (IPv4 when it reports none). */
function ipFamilies(ips: readonly string[]): (4 | 6)[] {
  const families = new Set<4 | 6>();
  for (const ip of ips) {
    const f = isIP(ip);
    if (f === 4 || f === 6) families.add(f);
  }
  return families.size > 0 ? [...families].sort() : [4];
}

/** A listener could not bind because another socket holds the port (directly or as the cause). */
function portInUse(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'EADDRINUSE' || /EADDRINUSE|Address already in use/.test(String(e.message))) return true;
  }
  return false;
}
