// Token authentication for the CA service.
// - File mode: a node token file maps tokens to node names (agents) or to SPIFFE ids
//   (waypoints and other workloads that obtain only their own identity).
// - Kube mode (as Istio's node authorizer): a TokenReview for the CA's audience resolves a
//   service-account token to system:serviceaccount:<ns>:<sa>. The agents' service account
//   must present a token bound to its pod (or to a node); the pod is looked up through the
//   API (uid checked) and its spec.nodeName is the caller's node. A node name the caller
//   sends is ignored. Any other service account obtains only its own identity.

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
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new AmbitError('AMBIT_E_CONFIG', `${file}: not valid JSON: ${(err as Error).message}`, {
        hint: 'use {"<token>": "<node>"} or lines "<token> <node>"',
      });
    }
    for (const [token, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof value !== 'string')
        throw new AmbitError('AMBIT_E_CONFIG', `${file}: the value for a token is not a string`, {
          hint: 'map each token to a node name or a SPIFFE id',
        });
      entries.push([token, value, 'JSON']);
    }
  } else {
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line) return;
      const fields = line.split(/\s+/);
      if (fields.length !== 2)
        throw new AmbitError('AMBIT_E_CONFIG', `${file}:${i + 1}: expected "<token> <node-name>"`, {
          hint: 'one token and one node name (or SPIFFE id) per line',
        });
      entries.push([fields[0] as string, fields[1] as string, `line ${i + 1}`]);
    });
  }
  const tokens = new Map<string, Caller>();
  for (const [token, who, where] of entries) {
    if (token.length < 16)
      throw new AmbitError('AMBIT_E_CONFIG', `${file} (${where}): token for ${who} is shorter than 16 characters`, {
        hint: 'use long random tokens, e.g. `openssl rand -hex 32`',
      });
    const caller: Caller = who.startsWith('spiffe://')
      ? { kind: 'waypoint', identity: who }
      : { kind: 'agent', node: who };
    if (caller.kind === 'waypoint' && !isSpiffeId(who))
      throw new AmbitError('AMBIT_E_CONFIG', `${file} (${where}): "${who}" is not a valid SPIFFE id`, {
        hint: 'spiffe://<td>/ns/<ns>/sa/<sa>',
      });
    tokens.set(digest(token).toString('hex'), caller);
  }
  return tokens;
}

/**
 * File mode: tokens from `path`, re-read when the file changes. The file is checked at most
 * once per `recheckMs` for a known token (a removed token stops working within that time),
 * and at once for an unknown one (a token just added works at once).
 */
export function nodeTokenFileAuthenticator(
  path: string,
  opts: { recheckMs?: number; now?: () => number } = {},
): Authenticate {
  const recheckMs = opts.recheckMs ?? 1000;
  const now = opts.now ?? Date.now;
  let cache: { mtimeMs: number; size: number; checkedAt: number; tokens: Map<string, Caller> } | undefined;
  const refresh = async (): Promise<Map<string, Caller>> => {
    const info = await stat(path).catch((err: Error) => {
      throw new AmbitError('AMBIT_E_CONFIG', `cannot read node token file ${path}: ${err.message}`, {
        hint: 'check --node-token-file',
      });
    });
    if (!cache || cache.mtimeMs !== info.mtimeMs || cache.size !== info.size) {
      cache = {
        mtimeMs: info.mtimeMs,
        size: info.size,
        checkedAt: now(),
        tokens: parseNodeTokens(await readFile(path, 'utf8'), path),
      };
    }
    cache.checkedAt = now();
    return cache.tokens;
  };
  // Requests that find the check due at the same moment share one stat (and read).
  let refreshing: Promise<Map<string, Caller>> | undefined;
  const shared = (): Promise<Map<string, Caller>> =>
    (refreshing ??= refresh().finally(() => {
      refreshing = undefined;
    }));
  return async (token) => {
    // Keyed by SHA-256: the lookup compares digests, so its timing says nothing about the token.
    const key = digest(token).toString('hex');
    const fresh = cache !== undefined && now() - cache.checkedAt < recheckMs;
    let caller = fresh ? cache!.tokens.get(key) : undefined;
    if (!caller) caller = (await shared()).get(key);
    if (!caller) throw new Error('unknown token');
    return caller;
  };
}

export interface TokenReviewResult {
  authenticated: boolean;
  username?: string;
  /** TokenReview status.user.extra; bound tokens carry the authentication.kubernetes.io/* keys */
  extra?: Record<string, readonly string[]>;
  /** status.audiences: the audiences (of those asked for) the token is valid for */
  audiences?: readonly string[];
  error?: string;
}

/** What the CA learns about a pod or node through the API (undefined: not found). */
export interface BoundObjectLookup {
  pod(
    namespace: string,
    name: string,
  ): Promise<{ uid: string; nodeName?: string; serviceAccount?: string } | undefined>;
  node(name: string): Promise<{ uid: string } | undefined>;
}

export const DEFAULT_TOKEN_AUDIENCE = 'ambit-ca';

export interface TokenReviewAuthOptions {
  /** A TokenReview sent with `audiences: [audience]` (see kubeTokenReviewer), cached or not. */
  reviewToken(token: string): Promise<TokenReviewResult>;
  trustDomain: string;
  /** The audience the tokens must be issued for (the chart projects `ambit-ca`). */
  audience?: string;
  /** Looks up the pod (or node) an agent's token is bound to; without it no agent token is accepted. */
  lookup?: BoundObjectLookup;
  /** `<namespace>/<name>` of the agents' service account(s); default ambit-system/ambit-agent */
  agentServiceAccounts?: readonly string[];
  /** How long an accepted token's caller is remembered (default 30 s; a pod's node never changes). */
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  now?: () => number;
}

const SA_USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/;
export const BOUND_EXTRA = {
  podName: 'authentication.kubernetes.io/pod-name',
  podUid: 'authentication.kubernetes.io/pod-uid',
  nodeName: 'authentication.kubernetes.io/node-name',
  nodeUid: 'authentication.kubernetes.io/node-uid',
} as const;

/** A token the CA refuses; the message says why (it reaches the caller as UNAUTHENTICATED). */
export class TokenRefused extends Error {}

const BIND_HINT = 'mount a projected service-account token (audience ambit-ca) into the agent, as the chart does';

/**
 * Kube mode: a Kubernetes TokenReview decides who the token belongs to; an agent's node is
 * the node of the pod its token is bound to. The call metadata (a claimed node) is ignored.
 */
export function tokenReviewAuthenticator(opts: TokenReviewAuthOptions): Authenticate {
  const agents = new Set(opts.agentServiceAccounts ?? ['ambit-system/ambit-agent']);
  const audience = opts.audience ?? DEFAULT_TOKEN_AUDIENCE;
  const ttl = opts.cacheTtlMs ?? 30_000;
  const max = opts.cacheMaxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const accepted = new Map<string, { until: number; caller: Caller }>();
  const authenticate = async (token: string): Promise<Caller> => {
    const review = await opts.reviewToken(token);
    if (!review.authenticated)
      throw new TokenRefused(`TokenReview did not authenticate the token${review.error ? `: ${review.error}` : ''}`);
    // The API server answers with the audiences the token is valid for, among those asked.
    if (!review.audiences?.includes(audience)) {
      throw new TokenRefused(
        `the token is not for audience ${audience} ` +
          `(valid for: ${review.audiences?.join(', ') || 'none reported'}); ${BIND_HINT}`,
      );
    }
    const match = SA_USERNAME.exec(review.username ?? '');
    if (!match) throw new TokenRefused(`"${review.username ?? ''}" is not a service account`);
    const [, namespace = '', serviceAccount = ''] = match;
    if (!agents.has(`${namespace}/${serviceAccount}`)) {
      return { kind: 'waypoint', identity: spiffeIdFor(opts.trustDomain, namespace, serviceAccount) };
    }
    if (!opts.lookup)
      throw new TokenRefused(
        `agent ${namespace}/${serviceAccount}: ` +
          "the controller has no pod lookup to verify the agent's node (use kubeCaAuthenticator)",
      );
    return { kind: 'agent', node: await verifiedNode(opts.lookup, namespace, serviceAccount, review.extra ?? {}) };
  };
  return async (token) => {
    const key = digest(token).toString('base64');
    const hit = accepted.get(key);
    if (hit && now() < hit.until) return hit.caller;
    accepted.delete(key);
    const caller = await authenticate(token);
    if (accepted.size >= max) accepted.delete(accepted.keys().next().value!);
    accepted.set(key, { until: now() + ttl, caller });
    return caller;
  };
}

/** The node an agent token is bound to: its pod's spec.nodeName, or the Node it is bound to. */
async function verifiedNode(
  lookup: BoundObjectLookup,
  namespace: string,
  serviceAccount: string,
  extra: Record<string, readonly string[]>,
): Promise<string> {
  const one = (key: string): string | undefined => extra[key]?.[0] || undefined;
  const podName = one(BOUND_EXTRA.podName);
  const boundNode = one(BOUND_EXTRA.nodeName);
  const who = `agent ${namespace}/${serviceAccount}`;
  if (podName) {
    const podUid = one(BOUND_EXTRA.podUid);
    if (!podUid) throw new TokenRefused(`${who}: the token names pod ${podName} but no pod uid`);
    const pod = await lookup.pod(namespace, podName);
    if (!pod) throw new TokenRefused(`${who}: the token is bound to pod ${namespace}/${podName}, which does not exist`);
    if (pod.uid !== podUid)
      throw new TokenRefused(
        `${who}: the token is bound to pod ${namespace}/${podName} with uid ${podUid}, ` +
          `but that pod now has uid ${pod.uid}`,
      );
    if (pod.serviceAccount !== undefined && pod.serviceAccount !== serviceAccount) {
      throw new TokenRefused(`${who}: pod ${namespace}/${podName} runs as service account ${pod.serviceAccount}`);
    }
    if (!pod.nodeName) throw new TokenRefused(`${who}: pod ${namespace}/${podName} is not scheduled on a node`);
    if (boundNode && boundNode !== pod.nodeName) {
      throw new TokenRefused(
        `${who}: the token names node ${boundNode}, but pod ${namespace}/${podName} runs on ${pod.nodeName}`,
      );
    }
    return pod.nodeName;
  }
  if (boundNode) {
    // A token bound to a Node object (`kubectl create token --bound-object-kind Node`).
    const nodeUid = one(BOUND_EXTRA.nodeUid);
    if (!nodeUid) throw new TokenRefused(`${who}: the token names node ${boundNode} but no node uid`);
    const node = await lookup.node(boundNode);
    if (!node) throw new TokenRefused(`${who}: the token is bound to node ${boundNode}, which does not exist`);
    if (node.uid !== nodeUid)
      throw new TokenRefused(
        `${who}: the token is bound to node ${boundNode} with uid ${nodeUid}, but that node now has uid ${node.uid}`,
      );
    return boundNode;
  }
  throw new TokenRefused(`${who}: the token is not bound to a pod or a node; ${BIND_HINT}`);
}
