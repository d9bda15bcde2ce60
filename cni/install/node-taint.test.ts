// The installer's node readiness: the taint goes only once the agent answers, only from the
// installer's own node, through an API server that enforces the chart's kind of RBAC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEnrolmentServer, type EnrolmentServer } from '../../core/enrolment/index.js';
import { createLogger } from '../../core/log.js';
import { FakeApiServer, type FakeObject } from '../../test/support/fake-apiserver.js';
import { AGENT_NOT_READY_TAINT, removeNodeTaint, untaintWhenAgentReady, type KubeEndpoint } from './node-taint.js';

const log = createLogger('node-taint-test');
const OTHER = { key: 'example.com/dedicated', value: 'db', effect: 'NoSchedule' };
const node = (name: string): FakeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: { taints: [{ key: AGENT_NOT_READY_TAINT, effect: 'NoSchedule' }, OTHER] },
  }) as FakeObject;
const taintsOf = (api: FakeApiServer, name: string): unknown[] =>
  (api.getObject('Node', name) as unknown as { spec: { taints?: unknown[] } }).spec.taints ?? [];

describe('node readiness taint', () => {
  let api: FakeApiServer;
  let dir: string;
  let endpoint: KubeEndpoint;
  let agent: EnrolmentServer | undefined;

  beforeEach(async () => {
    api = await FakeApiServer.start({ rbac: true });
    api.serveStandard();
    api.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ambit-agent', namespace: 'ambit-system' },
    });
    // As the chart grants it: get and patch of nodes, cluster-wide (RBAC cannot name "its own node").
    api.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'ambit-agent-node-taint' },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }],
    } as unknown as FakeObject);
    api.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'ambit-agent-node-taint' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ambit-agent-node-taint' },
      subjects: [{ kind: 'ServiceAccount', name: 'ambit-agent', namespace: 'ambit-system' }],
    } as unknown as FakeObject);
    api.create(node('node-a'));
    api.create(node('node-b'));
    const token = api.mintToken({ namespace: 'ambit-system', serviceAccount: 'ambit-agent' });
    endpoint = { url: api.url, token };
    dir = mkdtempSync(join(tmpdir(), 'ambit-node-taint-'));
  });
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for the agent, then removes only its taint and only from its own node', async () => {
    const socket = join(dir, 'agent.sock');
    const aborted = new AbortController();
    const done = untaintWhenAgentReady({
      api: () => Promise.resolve(endpoint),
      node: 'node-a',
      key: AGENT_NOT_READY_TAINT,
      agentSocket: socket,
      log,
      retryMs: 50,
      signal: aborted.signal,
    });
    let finished = false;
    void done.finally(() => (finished = true));
    // No agent yet: the taint stays through several attempts.
    await new Promise((r) => setTimeout(r, 400));
    expect(finished).toBe(false);
    expect(taintsOf(api, 'node-a')).toHaveLength(2);

    const handler = {
      query: () => Promise.resolve(true),
      add: () => Promise.resolve(),
      delete: () => Promise.resolve(),
      list: () => Promise.resolve([]),
    };
    agent = await startEnrolmentServer(socket, handler, { log });
    expect(await done).toBe('removed');
    expect(taintsOf(api, 'node-a')).toEqual([OTHER]);
    expect(taintsOf(api, 'node-b')).toHaveLength(2);
    expect(api.denials).toEqual([]);
    // Idempotent: a restarted installer finds nothing to remove.
    expect(await removeNodeTaint(endpoint, 'node-a', AGENT_NOT_READY_TAINT)).toBe('absent');
  });

  it('is refused without the node grant (403), so the chart must render it', async () => {
    api.delete('ClusterRoleBinding', 'ambit-agent-node-taint', undefined, 'rbac.authorization.k8s.io');
    await expect(removeNodeTaint(endpoint, 'node-a', AGENT_NOT_READY_TAINT)).rejects.toThrow(/HTTP 403/);
    expect(taintsOf(api, 'node-a')).toHaveLength(2);
  });
});
