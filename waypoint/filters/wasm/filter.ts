// WasmPlugins as waypoint HTTP filters: each plugin's VM sees the request headers and
// properties, may edit the headers sent upstream or answer locally; a plugin that exports
// body callbacks also sees (and may change) the request and response bodies (body-chain.ts).
// A failure (trap, time limit, memory limit, a module not loaded) applies the plugin's
// failStrategy.
import type { Logger } from '../../../core/log.js';
import type { WasmPluginConfig, WasmPluginPhase } from '../../../core/model/l7.js';
import { localReply } from '../../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from '../context.js';
import { BodyChain } from './body-chain.js';
import { headerPairs, replaceHeaders, type Headers } from './header-pairs.js';
import { DEFAULT_BODY_BUFFER_LIMIT, WasmBodyStage, type WasmStream } from './body-stage.js';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MAX_MEMORY_PAGES, fetchModule, loadFileModule } from './load.js';
import { sha256Hex } from './module-check.js';
import { WasmPluginRunner } from './runner.js';
import type { RequestCall } from './vm.js';
import { wasm } from './wasm-api.js';

/**
 * VMs shared by every config version that loads the same plugin, module and settings, so a
 * config change does not restart them; a VM ends once no live pipeline holds it.
 */
const shared = new Map<string, { plugin: LoadedPlugin; refs: number }>();
const released = new FinalizationRegistry<string>((key) => {
  const entry = shared.get(key);
  if (!entry || --entry.refs > 0) return;
  entry.plugin.runner.close();
  shared.delete(key);
});

/** A plugin's VM and the stream callbacks its module exports (the others are never called). */
interface LoadedPlugin {
  readonly runner: WasmPluginRunner;
  readonly responseHeaders: boolean;
  readonly requestBody: boolean;
  readonly responseBody: boolean;
  readonly requestTrailers: boolean;
  readonly responseTrailers: boolean;
}

function acquire(holder: object, p: WasmPluginConfig, bytes: Uint8Array, log: Logger): LoadedPlugin {
  const maxMemoryPages = p.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
  const timeout = p.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const pluginConfig = p.pluginConfig === undefined ? '' : JSON.stringify(p.pluginConfig);
  const key = JSON.stringify([p.key, sha256Hex(bytes), pluginConfig, maxMemoryPages, timeout]);
  let entry = shared.get(key);
  if (!entry) {
    const exported = new Set(wasm.Module.exports(new wasm.Module(bytes)).map((e) => e.name));
    entry = {
      plugin: {
        runner: new WasmPluginRunner({ key: p.key, bytes, pluginConfig, maxMemoryPages }, timeout, log),
        responseHeaders: exported.has('proxy_on_response_headers'),
        requestBody: exported.has('proxy_on_request_body'),
        responseBody: exported.has('proxy_on_response_body'),
        requestTrailers: exported.has('proxy_on_request_trailers'),
        responseTrailers: exported.has('proxy_on_response_trailers'),
      },
      refs: 0,
    };
    shared.set(key, entry);
  }
  entry.refs++;
  released.register(holder, key);
  return entry.plugin;
}

/** The request's headers end it (no body follows); an HTTP/2 request without a length may still have one. */
function requestEnds(ctx: RequestContext): boolean {
  const h = ctx.view.headers;
  if (h['transfer-encoding'] !== undefined) return false;
  if (h['content-length'] !== undefined) return h['content-length'] === '0';
  return ctx.view.method === 'GET' || ctx.view.method === 'HEAD';
}

function properties(ctx: RequestContext): Record<string, string> {
  const v = ctx.view;
  const out: Record<string, string> = {
    'request.path': ctx.upstreamPath,
    'request.url_path': ctx.upstreamPath.split('?')[0] ?? '',
    'request.method': v.method,
    'request.host': ctx.upstreamAuthority,
    'request.scheme': v.scheme,
    'source.address': `${v.source.ip}:${v.source.port}`,
    'source.port': String(v.source.port),
  };
  if (v.source.principal) out['source.principal'] = v.source.principal;
  if (v.source.namespace) out['source.namespace'] = v.source.namespace;
  if (ctx.vhost) out['destination.service.host'] = ctx.vhost.vhost.host;
  return out;
}

class WasmFilter implements HttpFilter {
  readonly name: string;
  private loaded: LoadedPlugin | undefined;
  private loadError: string | undefined;
  private loggedAt = 0;

  constructor(
    private readonly plugin: WasmPluginConfig,
    private readonly log: Logger,
  ) {
    this.name = `wasm:${plugin.key}`;
    // A file module is checked now and a bad one throws: the config is rejected.
    const bytes = loadFileModule(plugin);
    if (bytes) this.loaded = acquire(this, plugin, bytes, log);
    else {
      this.loadError = 'module not fetched yet';
      fetchModule(plugin).then(
        (b) => {
          this.loaded = acquire(this, plugin, b, log);
          this.loadError = undefined;
        },
        (err: unknown) => {
          this.loadError = err instanceof Error ? err.message : String(err);
          log.error('wasm plugin not loaded', { plugin: plugin.key, err: this.loadError });
        },
      );
    }
  }

  async onRequest(ctx: RequestContext): Promise<FilterResult> {
    const services = this.plugin.services;
    if (services && !(ctx.vhost?.vhost.serviceKey && services.includes(ctx.vhost.vhost.serviceKey))) return undefined;
    const endOfStream = requestEnds(ctx);
    const call: RequestCall = { headers: headerPairs(ctx.upstreamHeaders), properties: properties(ctx), endOfStream };
    const loaded = this.loaded;
    let outcome;
    try {
      if (!loaded) throw new Error(this.loadError ?? 'module not loaded');
      outcome = await loaded.runner.call(call);
    } catch (err) {
      this.failed(err, 'request headers');
      if (this.plugin.failStrategy === 'FAIL_OPEN') return undefined;
      return localReply(500, this.failure());
    }
    if (outcome.localResponse) {
      const { status, body, headers } = outcome.localResponse;
      return localReply(status, body, '-', Object.fromEntries(headers));
    }
    replaceHeaders(ctx.upstreamHeaders, outcome.headers);
    const context = outcome.context;
    if (context === undefined) return undefined;
    const method = ctx.view.method;
    const requestStage = loaded.requestBody || loaded.requestTrailers;
    const responseStage = loaded.responseBody || loaded.responseTrailers;
    if (!loaded.responseHeaders && !requestStage && !responseStage) return undefined;
    // The chain also carries a response headers callback's local reply (it replaces the response).
    const chain = bodyChain(ctx, endOfStream);
    // Response filters run in the reverse order of request filters, as in Envoy.
    if (loaded.responseHeaders)
      (ctx.responseHooks ??= []).unshift((h) => this.onResponse(loaded.runner, context, h, method, chain));
    if (requestStage || responseStage) this.addBodyStages(chain, loaded, context);
    return undefined;
  }

  /** Hands this plugin the request's bodies and trailers: the handler then runs them through it (body-chain.ts). */
  private addBodyStages(chain: BodyChain, loaded: LoadedPlugin, context: number): void {
    const stream: WasmStream = {
      key: this.plugin.key,
      runner: loaded.runner,
      context,
      failOpen: this.plugin.failStrategy === 'FAIL_OPEN',
      bufferLimit: DEFAULT_BODY_BUFFER_LIMIT,
      closed: false,
      bypass: false,
      failed: (err, phase) => this.failed(err, phase),
    };
    const request = { body: loaded.requestBody, trailers: loaded.requestTrailers };
    const response = { body: loaded.responseBody, trailers: loaded.responseTrailers };
    if (request.body || request.trailers) chain.addRequestStage(new WasmBodyStage(stream, false, request));
    if (response.body || response.trailers) chain.addResponseStage(new WasmBodyStage(stream, true, response));
    chain.onAbandon(() => {
      if (!stream.closed) loaded.runner.end(context);
      stream.closed = true;
    });
  }

  /**
   * The response headers through the plugin; its local reply replaces the upstream response (the
   * head has not gone out yet), and so does a failure under FAIL_CLOSE (500, as for requests).
   */
  private async onResponse(
    runner: WasmPluginRunner,
    context: number,
    headers: Headers,
    method: string,
    chain: BodyChain,
  ): Promise<void> {
    // An earlier response callback answered: this plugin's callbacks are not called for it.
    if (chain.responseAnswered) return runner.end(context);
    try {
      const endOfStream = method === 'HEAD' || headers['content-length'] === '0';
      const outcome = await runner.respond({ context, headers: headerPairs(headers), endOfStream });
      if (outcome.localResponse) {
        const { status, body, headers: replyHeaders } = outcome.localResponse;
        chain.answerResponse(localReply(status, body, '-', Object.fromEntries(replyHeaders)));
        return;
      }
      replaceHeaders(headers, outcome.headers);
    } catch (err) {
      this.failed(err, 'response headers');
      if (this.plugin.failStrategy !== 'FAIL_OPEN') chain.answerResponse(localReply(500, this.failure()));
    }
  }

  private failure(): string {
    return `wasm plugin ${this.plugin.key} failed`;
  }

  /** At most one line a second: a broken plugin under load would flood the log. */
  private failed(err: unknown, phase: string): void {
    if (Date.now() - this.loggedAt < 1000) return;
    this.loggedAt = Date.now();
    this.log.warn('wasm plugin failed', {
      plugin: this.plugin.key,
      phase,
      err: err instanceof Error ? err.message : String(err),
      failStrategy: this.plugin.failStrategy,
    });
  }
}

/** The request's body chain (one for all its plugins), created by the first plugin that needs it. */
function bodyChain(ctx: RequestContext, requestEnded: boolean): BodyChain {
  if (ctx.bodyFilter instanceof BodyChain) return ctx.bodyFilter;
  const chain = new BodyChain(ctx.view.method, ctx.upstreamHeaders, requestEnded, ctx.view.headers['content-length']);
  ctx.bodyFilter = chain;
  return chain;
}

/** The plugins of `phase`, highest priority first (ties: by name, so the order is stable). */
export function wasmFilters(
  plugins: readonly WasmPluginConfig[] | undefined,
  phase: WasmPluginPhase,
  log: Logger,
): HttpFilter[] {
  return (plugins ?? [])
    .filter((p) => p.phase === phase)
    .sort((a, b) => b.priority - a.priority || a.key.localeCompare(b.key))
    .map((p) => new WasmFilter(p, log));
}
