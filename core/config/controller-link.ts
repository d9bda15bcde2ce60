// What an agent or waypoint needs to reach the controller in controller mode: its address,
// the root its certificate chains to, the identity it must present, and a token source.
// The root file may not exist yet (the controller publishes it once it has a CA, the kubelet
// mounts it a little later): wait for it with backoff and say so, rather than exit.
import { readFile } from 'node:fs/promises';
import { describeError } from '../errors.js';
import { tokenFromFile } from '../identity/grpc-ca-client.js';
import type { Logger } from '../log.js';

export interface ControllerLink {
  readonly address: string;
  readonly rootsPem: string;
  /** The SPIFFE id the controller's serving certificate must carry. */
  readonly identity: string;
  /** Re-reads the token file on every call (projected tokens rotate). */
  readonly token: () => Promise<string>;
}

export interface ControllerLinkOptions {
  readonly address: string;
  readonly rootsFile: string;
  readonly identity: string;
  readonly tokenFile: string;
  readonly log: Logger;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly signal?: AbortSignal;
}

/** Reads `file` once it exists and holds a PEM certificate, retrying with capped backoff. */
export async function waitForPemFile(
  file: string,
  opts: Pick<ControllerLinkOptions, 'log' | 'backoff' | 'signal'> & { what: string },
): Promise<string> {
  let delay = opts.backoff?.initialMs ?? 500;
  const max = opts.backoff?.maxMs ?? 10_000;
  for (;;) {
    let problem: string;
    try {
      const text = await readFile(file, 'utf8');
      if (text.includes('BEGIN CERTIFICATE')) return text;
      problem = 'no PEM certificate in the file';
    } catch (err) {
      problem = describeError(err);
    }
    if (opts.signal?.aborted) throw new Error(`stopped while waiting for ${opts.what}`);
    opts.log.warn(`waiting for ${opts.what}; retrying`, { file, err: problem, retryInMs: delay });
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, max);
  }
}

export async function controllerLink(opts: ControllerLinkOptions): Promise<ControllerLink> {
  const rootsPem = await waitForPemFile(opts.rootsFile, {
    ...opts,
    what: 'the controller root certificate (AMBIT_CONTROLLER_ROOTS)',
  });
  return { address: opts.address, rootsPem, identity: opts.identity, token: tokenFromFile(opts.tokenFile) };
}

export { holdProcessOpen } from './hold-open.js';
