// The worker one WasmPlugin's VM lives in. The main thread bounds each call by time and
// terminates this worker when a call overruns: a looping module cannot be interrupted from
// inside its own thread, and terminating a worker stops running WebAssembly.
import { parentPort, workerData } from 'node:worker_threads';
import {
  ProxyWasmVm,
  type BodyCall,
  type BodyOutcome,
  type RequestCall,
  type RequestOutcome,
  type ResponseCall,
  type VmInit,
} from './vm.js';

/** One call to the VM: request headers, response headers, a body piece, or the end of a context. */
export type WorkerCall =
  | { readonly call: RequestCall }
  | { readonly response: ResponseCall }
  | { readonly body: BodyCall }
  | { readonly end: number };

export type WorkerReply =
  | { readonly type: 'ready'; readonly logs: ReturnType<ProxyWasmVm['takeLogs']> }
  | { readonly type: 'result'; readonly id: number; readonly outcome: RequestOutcome | BodyOutcome }
  | { readonly type: 'error'; readonly id?: number; readonly message: string };

const init = workerData as VmInit;
const port = parentPort;
let vm: ProxyWasmVm | undefined;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function start(): string | undefined {
  try {
    vm = new ProxyWasmVm(init);
    return undefined;
  } catch (err) {
    vm = undefined;
    return message(err);
  }
}

const failed = start();
port?.postMessage(
  failed === undefined ? { type: 'ready', logs: vm?.takeLogs() ?? [] } : { type: 'error', message: failed },
);

function run(v: ProxyWasmVm, msg: WorkerCall): RequestOutcome | BodyOutcome {
  if ('call' in msg) return v.onRequest(msg.call);
  if ('response' in msg) return v.onResponse(msg.response);
  if ('body' in msg) return v.onBody(msg.body);
  v.end(msg.end);
  return { headers: [], logs: v.takeLogs() };
}

port?.on('message', (msg: WorkerCall & { id: number }) => {
  if (!vm) {
    port.postMessage({ type: 'error', id: msg.id, message: `the plugin did not start: ${failed ?? 'unknown'}` });
    return;
  }
  try {
    port.postMessage({ type: 'result', id: msg.id, outcome: run(vm, msg) });
  } catch (err) {
    port.postMessage({ type: 'error', id: msg.id, message: message(err) });
    // A trapped instance may hold broken state: the next call gets a fresh one.
    start();
  }
});
