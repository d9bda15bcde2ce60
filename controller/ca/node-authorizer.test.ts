// The kube-mode authenticator on its own, with a stubbed TokenReview and API lookups: an
// agent's node comes from the pod (or node) its token is bound to, never from the caller.
import { describe, expect, it } from 'vitest';
import { tokenReviewAuthenticator, type BoundObjectLookup, type TokenReviewResult } from './auth.js';
import { identitiesOnNode } from './node-index.js';
import { FailureLimiter, peerHost } from './failure-limit.js';
import type { Workload } from '../../core/model/types.js';

const AGENT = 'system:serviceaccount:ambit-system:ambit-agent';
const pod = (name: string, uid: string, node?: string): Record<string, string[]> => ({
  'authentication.kubernetes.io/pod-name': [name],
  'authentication.kubernetes.io/pod-uid': [uid],
  ...(node ? { 'authentication.kubernetes.io/node-name': [node] } : {}),
});

function setup(
  reviews: Record<string, TokenReviewResult>,
  pods: Record<string, { uid: string; nodeName?: string; serviceAccount?: string }>,
  nodes: Record<string, string> = {},
) {
  const gets: string[] = [];
  const lookup: BoundObjectLookup = {
    pod: async (ns, name) => {
      gets.push(`pod ${ns}/${name}`);
      return pods[`${ns}/${name}`];
    },
    node: async (name) => {
      gets.push(`node ${name}`);
      return nodes[name] ? { uid: nodes[name] } : undefined;
    },
  };
  let clock = 0;
  const authenticate = tokenReviewAuthenticator({
    trustDomain: 'cluster.local',
    lookup,
    now: () => clock,
    reviewToken: async (t) => reviews[t] ?? { authenticated: false, error: 'invalid bearer token' },
  });
  return {
    authenticate,
    gets,
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

describe('kube-mode node authorizer', () => {
  const aud = ['ambit-ca'];

  it('takes the node from the bound pod, ignores a claimed node, and remembers the answer for a while', async () => {
    const { authenticate, gets, tick } = setup(
      { t: { authenticated: true, username: AGENT, audiences: aud, extra: pod('agent-1', 'u1') } },
      { 'ambit-system/agent-1': { uid: 'u1', nodeName: 'node-a', serviceAccount: 'ambit-agent' } },
    );
    expect(await authenticate('t', { nodeName: 'node-b' })).toEqual({ kind: 'agent', node: 'node-a' });
    expect(await authenticate('t', { nodeName: 'node-c' })).toEqual({ kind: 'agent', node: 'node-a' });
    expect(gets).toEqual(['pod ambit-system/agent-1']);
    tick(31_000);
    await authenticate('t', {});
    expect(gets).toHaveLength(2);
  });

  it.each([
    [
      'a token of a pod that was replaced (uid differs)',
      pod('agent-1', 'old-uid'),
      /bound to pod ambit-system\/agent-1 with uid old-uid, but that pod now has uid u1/,
    ],
    [
      'a token of a pod that no longer exists',
      pod('agent-gone', 'u9'),
      /bound to pod ambit-system\/agent-gone, which does not exist/,
    ],
    [
      'a token naming a pod without its uid',
      { 'authentication.kubernetes.io/pod-name': ['agent-1'] },
      /names pod agent-1 but no pod uid/,
    ],
    [
      'a token whose node extra disagrees with its pod',
      pod('agent-1', 'u1', 'node-b'),
      /names node node-b, but pod ambit-system\/agent-1 runs on node-a/,
    ],
    [
      'a token of an unscheduled pod',
      pod('agent-pending', 'u2'),
      /pod ambit-system\/agent-pending is not scheduled on a node/,
    ],
    [
      'a token of a pod running as another service account',
      pod('impostor', 'u3'),
      /pod ambit-system\/impostor runs as service account default/,
    ],
    ['an unbound token', {}, /the token is not bound to a pod or a node/],
    [
      'a node-bound token of a replaced node',
      { 'authentication.kubernetes.io/node-name': ['node-a'], 'authentication.kubernetes.io/node-uid': ['n-old'] },
      /bound to node node-a with uid n-old, but that node now has uid n-a/,
    ],
  ])('refuses %s', async (_name, extra, message) => {
    const { authenticate } = setup(
      { t: { authenticated: true, username: AGENT, audiences: aud, extra } },
      {
        'ambit-system/agent-1': { uid: 'u1', nodeName: 'node-a', serviceAccount: 'ambit-agent' },
        'ambit-system/agent-pending': { uid: 'u2', serviceAccount: 'ambit-agent' },
        'ambit-system/impostor': { uid: 'u3', nodeName: 'node-a', serviceAccount: 'default' },
      },
      { 'node-a': 'n-a' },
    );
    await expect(authenticate('t', { nodeName: 'node-a' })).rejects.toThrow(message);
  });

  it('accepts a token bound to a node object with the right uid', async () => {
    const { authenticate } = setup(
      {
        t: {
          authenticated: true,
          username: AGENT,
          audiences: aud,
          extra: {
            'authentication.kubernetes.io/node-name': ['node-a'],
            'authentication.kubernetes.io/node-uid': ['n-a'],
          },
        },
      },
      {},
      { 'node-a': 'n-a' },
    );
    expect(await authenticate('t', {})).toEqual({ kind: 'agent', node: 'node-a' });
  });

  it('refuses tokens for another audience, and does not cache a refusal here', async () => {
    const { authenticate } = setup(
      {
        other: {
          authenticated: true,
          username: AGENT,
          audiences: ['https://kubernetes.default.svc'],
          extra: pod('agent-1', 'u1'),
        },
        none: { authenticated: true, username: 'system:serviceaccount:shop:web' },
      },
      { 'ambit-system/agent-1': { uid: 'u1', nodeName: 'node-a', serviceAccount: 'ambit-agent' } },
    );
    await expect(authenticate('other', {})).rejects.toThrow(
      'the token is not for audience ambit-ca (valid for: https://kubernetes.default.svc)',
    );
    await expect(authenticate('none', {})).rejects.toThrow(
      'the token is not for audience ambit-ca (valid for: none reported)',
    );
  });

  it('another service account is a workload that obtains only its own identity', async () => {
    const { authenticate } = setup(
      {
        t: {
          authenticated: true,
          username: 'system:serviceaccount:shop:web',
          audiences: aud,
          extra: pod('web-1', 'w1'),
        },
      },
      {},
    );
    expect(await authenticate('t', { nodeName: 'node-a' })).toEqual({
      kind: 'waypoint',
      identity: 'spiffe://cluster.local/ns/shop/sa/web',
    });
  });
});

describe('identities on a node', () => {
  const w = (name: string, sa: string, node?: string): Workload =>
    ({
      uid: `Pod/shop/${name}`,
      kind: 'Pod',
      name,
      namespace: 'shop',
      serviceAccount: sa,
      identity: `spiffe://cluster.local/ns/shop/sa/${sa}`,
      ips: [],
      labels: {},
      enrolled: true,
      ...(node ? { node } : {}),
    }) as Workload;

  it('indexes by node once per workload list; unscheduled pods are on no node', () => {
    const list = [w('a', 'web', 'node-a'), w('b', 'db', 'node-b'), w('c', 'web', 'node-b'), w('pending', 'batch')];
    expect([...identitiesOnNode(list, 'node-b')].sort()).toEqual([
      'spiffe://cluster.local/ns/shop/sa/db',
      'spiffe://cluster.local/ns/shop/sa/web',
    ]);
    expect(identitiesOnNode(list, 'node-a')).toBe(identitiesOnNode(list, 'node-a'));
    expect([...identitiesOnNode(list, 'local'), ...identitiesOnNode(list, '')]).toEqual([]);
  });
});

describe('failed authentications per peer', () => {
  it('allows a burst, then refuses until the bucket refills', () => {
    let now = 0;
    const limiter = new FailureLimiter({ burst: 2, perSecond: 1, now: () => now });
    expect(limiter.blockedFor('10.0.0.1')).toBe(0);
    limiter.failed('10.0.0.1');
    limiter.failed('10.0.0.1');
    expect(limiter.blockedFor('10.0.0.1')).toBe(1000);
    expect(limiter.blockedFor('10.0.0.2')).toBe(0);
    now = 1000;
    expect(limiter.blockedFor('10.0.0.1')).toBe(0);
  });

  it('reads the address out of gRPC peer strings', () => {
    expect(peerHost('127.0.0.1:5432')).toBe('127.0.0.1');
    expect(peerHost('ipv4:10.1.2.3:80')).toBe('10.1.2.3');
    expect(peerHost('::1:5432')).toBe('::1');
    expect(peerHost('ipv6:[fd00::1]:443')).toBe('fd00::1');
    expect(peerHost('unix:/run/x.sock')).toBe('unix:/run/x.sock');
  });
});
