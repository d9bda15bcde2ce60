// Cancelling an upstream request: when the client goes away or a route's timeout passes. An
// AbortSignal per request (AbortController, AbortSignal.any/timeout, and the EventTarget
// listener node:http adds and removes for `signal`) cost the waypoint several percent of its
// CPU per request; RequestCancel is a plain object with a callback list doing the same job.
// Transports accept either, so callers outside the request path may still pass AbortSignal.

export type CancelSignal = AbortSignal | RequestCancel;

const noop = (): void => undefined;

/** The error a cancelled request fails with: the same name and code as an aborted `signal`. */
export function abortError(): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

export class RequestCancel {
  aborted = false;
  private hooks: Array<() => void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Aborts when `parent` does, and on its own after `timeoutMs` (timer unref'd, cleared by dispose). */
  static derived(parent: CancelSignal, timeoutMs: number): RequestCancel {
    const c = new RequestCancel();
    if (parent.aborted) {
      c.aborted = true;
      return c;
    }
    const off = onCancel(parent, () => c.abort());
    c.timer = setTimeout(() => {
      off();
      c.abort();
    }, timeoutMs);
    c.timer.unref();
    return c;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    clearTimeout(this.timer);
    const hooks = this.hooks;
    this.hooks = undefined;
    if (hooks) for (const f of hooks) f();
  }

  /** `fn` once on abort (now, if already aborted); returns the unsubscribe. */
  onAbort(fn: () => void): () => void {
    if (this.aborted) {
      fn();
      return noop;
    }
    (this.hooks ??= []).push(fn);
    return () => {
      const i = this.hooks?.indexOf(fn) ?? -1;
      if (i >= 0) this.hooks!.splice(i, 1);
    };
  }

  /** The request is over: stop the timer, drop the callbacks. */
  dispose(): void {
    clearTimeout(this.timer);
    this.hooks = undefined;
  }
}

/** Subscribe to either kind of signal; returns the unsubscribe. */
export function onCancel(signal: CancelSignal, fn: () => void): () => void {
  if (signal instanceof RequestCancel) return signal.onAbort(fn);
  if (signal.aborted) {
    fn();
    return noop;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
