// Minimal Kubernetes REST client: list a collection and stream a watch, over the
// connection settings (server, TLS, credentials) of a @kubernetes/client-node KubeConfig.
// We speak list/watch ourselves rather than use the library's informers so that 410 Gone,
// bookmarks and the resourceVersion we resume from stay under our control.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../../core/errors.js';

/** An HTTP status from the API server (404 = not served, 410 = resourceVersion expired). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: Record<string, unknown>;
}

export interface ListResult {
  readonly resourceVersion: string;
  readonly items: ReadonlyArray<Record<string, unknown>>;
}

export class KubeApi {
  constructor(private readonly kc: KubeConfig) {}

  private async request(path: string, signal?: AbortSignal, body?: unknown): Promise<http.IncomingMessage> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster)
      throw new AmbitError('AMBIT_E_CONFIG', 'kubeconfig has no current cluster', {
        hint: 'set KUBECONFIG or run in a pod',
      });
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(payload ? { 'content-type': 'application/json' } : {}),
    };
    const opts: https.RequestOptions = { method: payload ? 'POST' : 'GET', headers };
    await this.kc.applyToHTTPSOptions(opts);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...opts, ...(signal ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** POST a JSON body (e.g. a TokenReview); returns the parsed answer. */
  async create<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.request(path, signal, body);
    const text = await readBody(res);
    if (res.statusCode !== 200 && res.statusCode !== 201) throw statusError(res.statusCode ?? 0, path, text);
    return JSON.parse(text) as T;
  }

  /** GET one object; undefined when it does not exist (404). */
  async get<T>(path: string, signal?: AbortSignal): Promise<T | undefined> {
    const res = await this.request(path, signal);
    const text = await readBody(res);
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, path, text);
    return JSON.parse(text) as T;
  }

  /** TokenReview: who a bearer token belongs to (authentication.k8s.io/v1). */
  async reviewToken(
    token: string,
  ): Promise<{ authenticated: boolean; username?: string; extra?: Record<string, string[]>; error?: string }> {
    const review = await this.create<{
      status?: {
        authenticated?: boolean;
        user?: { username?: string; extra?: Record<string, string[]> };
        error?: string;
      };
    }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    const s = review.status ?? {};
    return {
      authenticated: s.authenticated === true,
      ...(s.user?.username ? { username: s.user.username } : {}),
      ...(s.user?.extra ? { extra: s.user.extra } : {}),
      ...(s.error ? { error: s.error } : {}),
    };
  }

  async list(path: string, signal?: AbortSignal): Promise<ListResult> {
    const res = await this.request(path, signal);
    const body = await readBody(res);
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, path, body);
    const parsed = JSON.parse(body) as {
      metadata?: { resourceVersion?: string };
      items?: Array<Record<string, unknown>>;
    };
    return { resourceVersion: parsed.metadata?.resourceVersion ?? '', items: parsed.items ?? [] };
  }

  /**
   * Watch `path` from `resourceVersion`; `onEvent` gets each event. Resolves when the server
   * ends the stream, rejects on a transport error or a non-200 status (KubeApiError).
   */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (ev: WatchEvent) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = new URLSearchParams({
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    const res = await this.request(`${path}${path.includes('?') ? '&' : '?'}${q.toString()}`, signal);
    if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, path, await readBody(res));
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown): void => {
        if (!failed) {
          failed = true;
          res.destroy();
          reject(err);
        }
      };
      // A connection cut mid-stream shows up as 'aborted'/'error' on the response, or a close without 'end'.
      let ended = false;
      res.on('end', () => {
        ended = true;
      });
      res.on('aborted', () => fail(new Error(`watch ${path}: connection lost`)));
      res.on('error', fail);
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('error', fail); // readline re-emits the response's errors
      lines.on('line', (line) => {
        if (failed || !line.trim()) return;
        let ev: WatchEvent;
        try {
          ev = JSON.parse(line) as WatchEvent;
        } catch {
          return fail(new Error(`watch ${path}: bad event line`));
        }
        try {
          onEvent(ev);
        } catch (err) {
          fail(err);
        }
      });
      lines.on('close', () => {
        if (failed) return;
        if (ended) resolve();
        else fail(new Error(`watch ${path}: connection lost`));
      });
    });
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function statusError(status: number, path: string, body: string): KubeApiError {
  let message = body.slice(0, 200);
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    /* not a Status */
  }
  return new KubeApiError(status, `${path}: ${status} ${message}`);
}
