// One reflector per kind: list, then watch from the list's resourceVersion; on a dropped or
// ended watch, watch again from the last resourceVersion seen (bookmarks advance it); on
// 410 Gone, list again and emit the difference; on errors, back off exponentially. A custom
// resource the cluster does not serve (404 in every version) counts as synced-and-empty and
// is retried later.
import type { KubeObject } from './types.js';
import type { Logger } from '../../core/log.js';
import { describeError } from '../../core/errors.js';
import { KubeApi, KubeApiError, type WatchEvent } from './kube-api.js';
import { apiVersionOf, collectionPath, kindLabel, type KindSpec } from './kube-kinds.js';

export interface ReflectorTiming {
  /** First retry delay after an error; doubles up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How often a kind whose CRD is absent is looked for again. */
  absentRetryMs: number;
}

export const DEFAULT_TIMING: ReflectorTiming = { initialBackoffMs: 250, maxBackoffMs: 30_000, absentRetryMs: 30_000 };

export interface ReflectorSink {
  upsert(obj: KubeObject, type: 'ADDED' | 'MODIFIED'): void;
  remove(obj: KubeObject): void;
  /** The first list finished (or the kind is not served). Called once. */
  synced(): void;
}

const uidOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Reflector {
  private readonly known = new Map<string, KubeObject>();
  private resourceVersion = '';
  private version: string | undefined;
  private backoffMs: number;
  private isSynced = false;
  private readonly abort = new AbortController();
  private wakeup: (() => void) | undefined;
  /** Counters for tests and debugging. */
  readonly stats = { lists: 0, watches: 0, gone: 0, errors: 0, bookmarks: 0 };

  constructor(
    private readonly spec: KindSpec,
    private readonly api: KubeApi,
    private readonly sink: ReflectorSink,
    private readonly log: Logger,
    private readonly timing: ReflectorTiming = DEFAULT_TIMING,
  ) {
    this.backoffMs = timing.initialBackoffMs;
  }

  get servedVersion(): string | undefined {
    return this.version;
  }

  stop(): void {
    this.abort.abort();
    this.wakeup?.();
  }

  async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        if (!this.resourceVersion) {
          const listed = await this.relist();
          if (!listed) {
            await this.sleep(this.timing.absentRetryMs);
            continue;
          }
        }
        this.stats.watches++;
        await this.api.watch(
          collectionPath(this.spec, this.version!),
          this.resourceVersion,
          (ev) => this.onWatchEvent(ev),
          this.abort.signal,
        );
        // A clean end (server timeout): watch again from where we are, no backoff.
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 410) {
          this.stats.gone++;
          this.log.info('watch expired (410 Gone); relisting', {
            kind: kindLabel(this.spec),
            resourceVersion: this.resourceVersion,
          });
          this.resourceVersion = '';
          continue;
        }
        this.stats.errors++;
        if (err instanceof KubeApiError && err.status === 404) this.resourceVersion = ''; // CRD removed: look again
        this.log.warn('list/watch failed; retrying', {
          kind: kindLabel(this.spec),
          err: describeError(err),
          retryInMs: this.backoffMs,
        });
        await this.sleep(this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, this.timing.maxBackoffMs);
      }
    }
  }

  /** Lists the first served version; returns false when none is served (CRD absent). */
  private async relist(): Promise<boolean> {
    for (const version of this.spec.versions) {
      try {
        this.stats.lists++;
        const result = await this.api.list(collectionPath(this.spec, version), this.abort.signal);
        if (this.version !== version) this.log.info('watching', { kind: kindLabel(this.spec), version });
        this.version = version;
        this.replace(result.items.map((item) => this.complete(item, version)));
        this.resourceVersion = result.resourceVersion;
        this.backoffMs = this.timing.initialBackoffMs;
        this.markSynced();
        return true;
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        // A custom resource we may not read (RBAC) must not hold up the rest: treat as absent.
        if (err.status === 403 && this.spec.optional) {
          this.log.warn('kind not readable (403); skipping it', {
            kind: kindLabel(this.spec),
            version,
            err: err.message,
          });
          continue;
        }
        if (err.status !== 404) throw err;
      }
    }
    if (!this.spec.optional) throw new KubeApiError(404, `${kindLabel(this.spec)} is not served by the API server`);
    this.log.debug('kind not served; will look again', { kind: kindLabel(this.spec) });
    this.version = undefined;
    this.replace([]);
    this.markSynced();
    return false;
  }

  /** Emit the difference between what we knew and a fresh list. */
  private replace(items: KubeObject[]): void {
    const fresh = new Map(items.map((o) => [uidOf(o), o]));
    for (const [key, old] of this.known) {
      if (!fresh.has(key)) {
        this.known.delete(key);
        this.sink.remove(old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.known.get(key);
      if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) continue;
      this.known.set(key, obj);
      this.sink.upsert(obj, old ? 'MODIFIED' : 'ADDED');
    }
  }

  private onWatchEvent(ev: WatchEvent): void {
    if (ev.type === 'ERROR') {
      const code = typeof ev.object.code === 'number' ? ev.object.code : 500;
      throw new KubeApiError(
        code,
        `watch ${kindLabel(this.spec)}: ${String(ev.object.message ?? ev.object.reason ?? 'error event')}`,
      );
    }
    const obj = this.complete(ev.object, this.version!);
    const rv = obj.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    this.backoffMs = this.timing.initialBackoffMs;
    if (ev.type === 'BOOKMARK') {
      this.stats.bookmarks++;
      return;
    }
    const key = uidOf(obj);
    if (ev.type === 'DELETED') {
      const old = this.known.get(key);
      this.known.delete(key);
      this.sink.remove(old ?? obj);
      return;
    }
    const existed = this.known.has(key);
    this.known.set(key, obj);
    this.sink.upsert(obj, existed ? 'MODIFIED' : 'ADDED');
  }

  /**
   * List items of built-in types come without kind/apiVersion: fill them in. managedFields
   * (often most of a Pod's bytes) are dropped: nothing downstream reads them.
   */
  private complete(item: Record<string, unknown>, version: string): KubeObject {
    const { managedFields: _mf, ...metadata } = (item.metadata ?? {}) as KubeObject['metadata'] & {
      managedFields?: unknown;
    };
    return { ...item, apiVersion: apiVersionOf(this.spec, version), kind: this.spec.kind, metadata } as KubeObject;
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    this.sink.synced();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeup = done;
    });
  }
}
