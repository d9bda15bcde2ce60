// Polling wait for asynchronous test conditions (no timed assertions: the deadline only
// bounds a hang, it is not what the test checks).
import { pollUntil } from '../support/wait.js';

export const waitFor = <T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> =>
  pollUntil(probe, { what, timeoutMs, intervalMs: 10 });
