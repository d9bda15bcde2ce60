// The main thread's handle on one WasmPlugin VM: a worker (vm-worker.ts) that runs calls one
// at a time, each bounded by a timer. A call that overruns terminates the worker (that stops a
// looping module) and a new one starts for the next call. The bound is time, not fuel: an
// injected instruction counter would mean rewriting the module's code, and a worker needs none.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../../core/log.js';
import type { BodyCall, BodyOutcome, RequestCall, RequestOutcome, ResponseCall, VmInit } from './vm.js';
import type { WorkerCall, WorkerReply } from './vm-worker.js';

/** JS heap of a plugin's worker (WebAssembly memory is bounded by maxMemoryPages instead). */
const WORKER_HEAP_MB = 32;

let bundledWorker: string | undefined;

/**
 * Built output runs vm-worker.js; under the test runner the sources are TypeScript, which a
 * worker cannot load, so the worker is bundled to one script first (esbuild, a dev dependency).
 */
function spawn(init: VmInit): Worker {
  const options = { workerData: init, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } };
  if (import.meta.url.endsWith('.js')) return new Worker(new URL('./vm-worker.js', import.meta.url), options);
  if (!bundledWorker) {
    const esbuild = createRequire(import.meta.url)('esbuild') as {
      buildSync(o: object): { outputFiles: Array<{ text: string }> };
    };
    const entry = fileURLToPath(new URL('./vm-worker.ts', import.meta.url));
    const out = esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
    });
    bundledWorker = out.outputFiles[0]?.text ?? '';
  }
  return new Worker(bundledWorker, { ...options, eval: true });
}

interface Pending {
  readonly id: number;
  readonly resolve: (o: RequestOutcome | BodyOutcome) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** How long a VM may take to start (compile, vm_start, configure); the time limit per call starts after. */
const START_TIMEOUT_MS = 10_000;

export class WasmPluginRunner {
  private worker: { readonly w: Worker; readonly ready: Promise<void> } | undefined;
  private pending: Pending | undefined;
  private starting: { readonly resolve: () => void; readonly reject: (e: Error) => void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly init: VmInit,
    private readonly callTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** Runs one request through the plugin; rejects on a trap, a timeout or a plugin that did not start. */
  call(req: RequestCall): Promise<RequestOutcome> {
    return this.enqueue({ call: req }) as Promise<RequestOutcome>;
  }

  /** Response headers for a context a request call left open. */
  respond(res: ResponseCall): Promise<RequestOutcome> {
    return this.enqueue({ response: res }) as Promise<RequestOutcome>;
  }

  /** The next piece of a request or response body for an open context. */
  body(call: BodyCall): Promise<BodyOutcome> {
    return this.enqueue({ body: call }) as Promise<BodyOutcome>;
  }

  /** Ends a context whose stream ended early (proxy_on_done, proxy_on_delete); never rejects. */
  end(context: number): void {
    // A worker that is not running holds no contexts (a new one starts with none).
    if (!this.worker) return;
    this.enqueue({ end: context }).catch(() => undefined);
  }

  private enqueue(message: WorkerCall): Promise<RequestOutcome | BodyOutcome> {
    const run = this.queue.then(() => this.send(message));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    void this.worker?.w.terminate();
    this.worker = undefined;
  }

  private ensureWorker(): { readonly w: Worker; readonly ready: Promise<void> } {
    if (this.worker) return this.worker;
    const w = spawn(this.init);
    w.unref();
    const ready = new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
    });
    ready.catch(() => undefined);
    const timer = setTimeout(
      () => this.fail(w, `the VM did not start within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    timer.unref();
    void ready.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    w.on('message', (m: WorkerReply) => this.onReply(w, m));
    w.on('error', (err) => this.fail(w, `worker failed: ${err.message}`));
    w.on('exit', () => this.fail(w, 'worker exited'));
    this.worker = { w, ready };
    return this.worker;
  }

  private async send(message: WorkerCall): Promise<RequestOutcome | BodyOutcome> {
    if (this.closed) throw new Error('plugin closed');
    const { w, ready } = this.ensureWorker();
    await ready;
    const id = this.nextId++;
    return new Promise<RequestOutcome | BodyOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(w, `call exceeded ${this.callTimeoutMs} ms; the VM was stopped`);
      }, this.callTimeoutMs);
      this.pending = { id, resolve, reject, timer };
      w.postMessage({ id, ...message });
    });
  }

  private onReply(w: Worker, m: WorkerReply): void {
    if (m.type === 'ready') {
      for (const l of m.logs) this.pluginLog(l.level, l.message);
      this.starting?.resolve();
      this.starting = undefined;
      return;
    }
    if (m.type === 'error' && m.id === undefined) {
      this.log.error('wasm plugin did not start', { plugin: this.init.key, err: m.message });
      this.fail(w, `the plugin did not start: ${m.message}`);
      return;
    }
    const p = this.pending;
    if (!p || p.id !== m.id) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    if (m.type === 'result') {
      for (const l of m.outcome.logs) this.pluginLog(l.level, l.message);
      p.resolve(m.outcome);
    } else if (m.type === 'error') p.reject(new Error(m.message));
  }

  /** Ends worker `w` (when it is still the current one) and fails the call in flight or the start. */
  private fail(w: Worker, why: string): void {
    if (this.worker?.w !== w) return;
    this.worker = undefined;
    void w.terminate();
    this.starting?.reject(new Error(why));
    this.starting = undefined;
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    p.reject(new Error(why));
  }

  private pluginLog(level: number, message: string): void {
    // proxy-wasm levels: 0 trace … 5 critical.
    const fields = { plugin: this.init.key, message };
    if (level >= 4) this.log.error('wasm plugin log', fields);
    else if (level === 3) this.log.warn('wasm plugin log', fields);
    else this.log.info('wasm plugin log', fields);
  }
}
