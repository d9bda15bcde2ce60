// The worker one WasmPlugin's VM lives in. The main thread bounds each call by time and
// terminates this worker when a call overruns: a looping module cannot be interrupted from
// inside its own thread, and terminating a worker stops running WebAssembly.
import { parentPort, workerData } from 'node:worker_threads';
import { ProxyWasmVm, type RequestCall, type ResponseCall, type VmInit } from './vm.js';

export type WorkerReply =
  | { readonly type: 'ready'; readonly logs: ReturnType<ProxyWasmVm['takeLogs']> }
  | { readonly type: 'result'; readonly id: number; readonly outcome: ReturnType<ProxyWasmVm['onRequest']> }
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

port?.on('message', (msg: { id: number; call?: RequestCall; response?: ResponseCall }) => {
  if (!vm) {
    port.postMessage({ type: 'error', id: msg.id, message: `the plugin did not start: ${failed ?? 'unknown'}` });
    return;
  }
  try {
    const outcome = msg.response ? vm.onResponse(msg.response) : msg.call ? vm.onRequest(msg.call) : undefined;
    port.postMessage({ type: 'result', id: msg.id, outcome });
  } catch (err) {
    port.postMessage({ type: 'error', id: msg.id, message: message(err) });
    // A trapped instance may hold broken state: the next call gets a fresh one.
    start();
  }
});
