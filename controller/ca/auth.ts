// Token authentication for the CA service.
// - File mode: a node token file maps tokens to node names (agents) or to SPIFFE ids
//   (waypoints and other workloads that obtain only their own identity).
// - Kube mode: TokenReview resolves a service-account token to system:serviceaccount:<ns>:<sa>;
//   the agent's service account is an agent (node from ambit-node-name metadata), any other
//   service account obtains only its own identity.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { AmbitError } from '../../core/errors.js';
import { isSpiffeId, spiffeIdFor } from '../../core/identity/spiffe.js';
import type { Caller, CallMetadata } from './service.js';

export type Authenticate = (token: string, metadata: CallMetadata) => Promise<Caller>;

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * Parse a node token file. JSON: `{ "<token>": "<node or spiffe id>" }`; otherwise lines
 * `<token> <node-name | spiffe://…>` with `#` comments.
 */
export function parseNodeTokens(text: string, file = 'node token file'): Map<string, Caller> {
  const entries: Array<[string, string, string]> = [];
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try { parsed = JSON.parse(trimmed); } catch (err) {
      throw new AmbitError('AMBIT_E_CONFIG', `${file}: not valid JSON: ${(err as Error).message}`, { hint: 'use {"<token>": "<node>"} or lines "<token> <node>"' });
    }
    for (const [token, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new AmbitError('AMBIT_E_CONFIG', `${file}: the value for a token is not a string`, { hint: 'map each token to a node name or a SPIFFE id' });
      entries.push([token, value, 'JSON']);
    }
  } else {
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line) return;
      const fields = line.split(/\s+/);
      if (fields.length !== 2) throw new AmbitError('AMBIT_E_CONFIG', `${file}:${i + 1}: expected "<token> <node-name>"`, { hint: 'one token and one node name (or SPIFFE id) per line' });
      entries.push([fields[0] as string, fields[1] as string, `line ${i + 1}`]);
    });
  }
  const tokens = new Map<string, Caller>();
  for (const [token, who, where] of entries) {
    if (token.length < 16) throw new AmbitError('AMBIT_E_CONFIG', `${file} (${where}): token for ${who} is shorter than 16 characters`, { hint: 'use long random tokens, e.g. `openssl rand -hex 32`' });
    const caller: Caller = who.startsWith('spiffe://') ? { kind: 'waypoint', identity: who } : { kind: 'agent', node: who };
    if (caller.kind === 'waypoint' && !isSpiffeId(who)) throw new AmbitError('AMBIT_E_CONFIG', `${file} (${where}): "${who}" is not a valid SPIFFE id`, { hint: 'spiffe://<td>/ns/<ns>/sa/<sa>' });
    tokens.set(digest(token).toString('hex'), caller);
  }
  return tokens;
}

/** File mode: tokens from `path`, re-read when the file changes. */
export function nodeTokenFileAuthenticator(path: string): Authenticate {
  let cache: { mtimeMs: number; size: number; tokens: Map<string, Caller> } | undefined;
  return async (token) => {
    const info = await stat(path).catch((err: Error) => { throw new AmbitError('AMBIT_E_CONFIG', `cannot read node token file ${path}: ${err.message}`, { hint: 'check --node-token-file' }); });
    if (!cache || cache.mtimeMs !== info.mtimeMs || cache.size !== info.size) {
      cache = { mtimeMs: info.mtimeMs, size: info.size, tokens: parseNodeTokens(await readFile(path, 'utf8'), path) };
    }
    // Keyed by SHA-256: the lookup compares digests, so its timing says nothing about the token.
    const caller = cache.tokens.get(digest(token).toString('hex'));
    if (!caller) throw new Error('unknown token');
    return caller;
  };
}

export interface TokenReviewResult {
  authenticated: boolean;
  username?: string;
  /** TokenReview status.user.extra; bound tokens carry authentication.kubernetes.io/node-name */
  extra?: Record<string, readonly string[]>;
  error?: string;
}

export interface TokenReviewAuthOptions {
  reviewToken(token: string): Promise<TokenReviewResult>;
  trustDomain: string;
  /** `<namespace>/<name>` of the agents' service account(s); default ambit-system/ambit-agent */
  agentServiceAccounts?: readonly string[];
}

const SA_USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/;
const NODE_EXTRA = 'authentication.kubernetes.io/node-name';

/** Kube mode: a Kubernetes TokenReview decides who the token belongs to. */
export function tokenReviewAuthenticator(opts: TokenReviewAuthOptions): Authenticate {
  const agents = new Set(opts.agentServiceAccounts ?? ['ambit-system/ambit-agent']);
  return async (token, metadata) => {
    const review = await opts.reviewToken(token);
    if (!review.authenticated) throw new Error(`TokenReview did not authenticate the token${review.error ? `: ${review.error}` : ''}`);
    const match = SA_USERNAME.exec(review.username ?? '');
    if (!match) throw new Error(`"${review.username ?? ''}" is not a service account`);
    const [, namespace = '', serviceAccount = ''] = match;
    if (!agents.has(`${namespace}/${serviceAccount}`)) {
      return { kind: 'waypoint', identity: spiffeIdFor(opts.trustDomain, namespace, serviceAccount) };
    }
    // A token bound to a pod names its node; it must agree with what the agent claims.
    const boundNode = review.extra?.[NODE_EXTRA]?.[0];
    const node = metadata.nodeName ?? boundNode;
    if (!node) throw new Error(`agent ${namespace}/${serviceAccount} did not send ambit-node-name metadata`);
    if (boundNode && boundNode !== node) throw new Error(`agent token is bound to node ${boundNode}, not ${node}`);
    return { kind: 'agent', node };
  };
}
