// Writes the Gateway API status of desired.ts through the status subresource, only when it
// differs from what the object holds: after a write, the watch brings the object back with that
// status, the next computation equals it, and nothing is written again (no write loop). A write
// carries the resourceVersion it was computed from; a conflict (someone changed the object) is
// retried when that change arrives, other failures after a back-off.
import type { Logger } from '../../core/log.js';
import { describeError } from '../../core/errors.js';
import type { KubeObject } from '../sources/types.js';
import { desiredStatuses, sameStatus, type StatusTarget } from './desired.js';

export interface StatusClient {
  /** PUT `<object>/status` with the whole object (its metadata.resourceVersion) and this status. */
  replaceStatus(target: StatusTarget, object: KubeObject): Promise<void>;
}

/** A failed write's HTTP status, when there was one. */
export class StatusWriteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'StatusWriteError';
  }
}

export interface StatusWriterOptions {
  readonly client: StatusClient;
  readonly log?: Logger;
  /** Wait before retrying after a failed write (default 5 s). */
  readonly retryMs?: number;
}

export class StatusWriter {
  /** Successful writes so far (tests, metrics). */
  writes = 0;
  private latest: readonly KubeObject[] | undefined;
  private last: readonly KubeObject[] = [];
  private running: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** The resourceVersion each object had when its status was last written. */
  private readonly writtenAt = new Map<string, string | undefined>();

  constructor(private readonly opts: StatusWriterOptions) {}

  /** The whole object set, after each change. */
  update(objects: readonly KubeObject[]): void {
    if (this.closed) return;
    this.latest = objects;
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Resolves when no write is pending (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  private async drain(): Promise<void> {
    while (this.latest && !this.closed) {
      const objects = this.latest;
      this.latest = undefined;
      this.last = objects;
      await this.writeAll(objects);
    }
  }

  private async writeAll(objects: readonly KubeObject[]): Promise<void> {
    let failed = false;
    for (const d of desiredStatuses(objects)) {
      const key = `${d.target.kind}/${d.target.namespace}/${d.target.name}`;
      const rv = d.object.metadata.resourceVersion;
      if (sameStatus(d.object.status ?? {}, d.status)) {
        this.writtenAt.delete(key);
        continue;
      }
      // Written from this very version already: the watch has not brought the result yet.
      if (this.writtenAt.has(key) && this.writtenAt.get(key) === rv) continue;
      try {
        await this.opts.client.replaceStatus(d.target, { ...d.object, status: d.status });
        this.writtenAt.set(key, rv);
        this.writes++;
        this.opts.log?.debug('status written', { object: key });
      } catch (err) {
        const code = err instanceof StatusWriteError ? err.status : 0;
        // 409: the object changed since; its new version arrives by the watch and is handled then. 404: gone.
        if (code === 409 || code === 404) continue;
        failed = true;
        this.opts.log?.warn('status write failed; retrying', { object: key, err: describeError(err) });
      }
    }
    if (failed && !this.closed) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.update(this.latest ?? this.last), this.opts.retryMs ?? 5000);
      this.retry.unref();
    }
  }
}
