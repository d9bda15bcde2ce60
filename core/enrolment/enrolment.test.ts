import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import {
  enrolmentRequest,
  parseRequest,
  parseResponse,
  startEnrolmentServer,
  type EnrolmentHandler,
  type EnrolmentServer,
  type PodInfo,
} from './index.js';

const pod: PodInfo = {
  uid: 'u1',
  name: 'a',
  namespace: 'ns1',
  netnsPath: '/var/run/netns/a',
  ips: ['10.1.0.2'],
  labels: { app: 'a' },
};

/** A tiny in-memory agent: namespaces in `enrolledNs` are enrolled; adds of pod "bad" fail. */
function memoryHandler(): EnrolmentHandler & { pods: Map<string, PodInfo>; deleted: string[] } {
  const pods = new Map<string, PodInfo>();
  const deleted: string[] = [];
  return {
    pods,
    deleted,
    async query(q) {
      // ns3: captured without its DNS (the mesh's DNS capture is off).
      if (q.namespace === 'ns3') return { enrolled: true, dnsCapture: false };
      return q.namespace === 'ns1' && q.labels?.['mesh-mode'] !== 'none';
    },
    async add(p) {
      if (p.name === 'bad') throw new Error(`no certificate for ${p.name}`);
      pods.set(p.uid, p);
    },
    async delete(uid) {
      deleted.push(uid);
      pods.delete(uid);
    },
    async list() {
      return [...pods.values()];
    },
  };
}

/** Send raw bytes and half-close; collect everything until the server closes. */
function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path, allowHalfOpen: true });
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('end', () => {
      s.end();
      resolve(out);
    });
    s.on('error', reject);
    s.end(payload); // half-close: the server still answers every line, then ends
  });
}

describe('enrolment protocol', () => {
  let dir: string;
  let sockPath: string;
  let server: EnrolmentServer | undefined;
  let handler: ReturnType<typeof memoryHandler>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-enrol-'));
    sockPath = join(dir, 'sub', 'agent.sock');
    handler = memoryHandler();
    server = await startEnrolmentServer(sockPath, handler);
  });
  afterEach(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers query, add, list and delete', async () => {
    expect(await enrolmentRequest(sockPath, { op: 'query', namespace: 'ns1', name: 'a' })).toEqual({
      ok: true,
      enrolled: true,
    });
    expect(await enrolmentRequest(sockPath, { op: 'query', namespace: 'ns2', name: 'a' })).toEqual({
      ok: true,
      enrolled: false,
    });
    expect(
      await enrolmentRequest(sockPath, { op: 'query', namespace: 'ns1', name: 'a', labels: { 'mesh-mode': 'none' } }),
    ).toEqual({ ok: true, enrolled: false });
    expect(await enrolmentRequest(sockPath, { op: 'query', namespace: 'ns3', name: 'a' })).toEqual({
      ok: true,
      enrolled: true,
      dnsCapture: false,
    });
    expect(() => parseResponse('{"ok":true,"enrolled":true,"dnsCapture":"no"}')).toThrow(/response\.dnsCapture/);
    expect(await enrolmentRequest(sockPath, { op: 'add', pod })).toEqual({ ok: true });
    expect(await enrolmentRequest(sockPath, { op: 'list' })).toEqual({ ok: true, pods: [pod] });
    expect(await enrolmentRequest(sockPath, { op: 'delete', uid: 'u1', netnsPath: pod.netnsPath })).toEqual({
      ok: true,
    });
    expect(handler.deleted).toEqual(['u1']);
    expect(await enrolmentRequest(sockPath, { op: 'list' })).toEqual({ ok: true, pods: [] });
  });

  it('returns a handler failure as {ok:false} with the reason', async () => {
    const res = await enrolmentRequest(sockPath, { op: 'add', pod: { ...pod, uid: 'u2', name: 'bad' } });
    expect(res).toEqual({ ok: false, error: 'no certificate for bad' });
    expect(handler.pods.size).toBe(0);
  });

  it('answers several requests on one connection in order', async () => {
    const out = await rawExchange(
      sockPath,
      '{"op":"query","namespace":"ns1","name":"x"}\n{"op":"query","namespace":"zz","name":"x"}\n',
    );
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { ok: true, enrolled: true },
      { ok: true, enrolled: false },
    ]);
  });

  it('closes only the connection that sent a malformed line', async () => {
    const held = connect({ path: sockPath, allowHalfOpen: true });
    await new Promise((r) => held.once('connect', r));
    const out = await rawExchange(sockPath, '{"op":"query","namespace":"ns1","name":"x"}\nnot json\n{"op":"list"}\n');
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; error?: string });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ ok: true, enrolled: true });
    expect(lines[1]!.ok).toBe(false);
    expect(lines[1]!.error).toMatch(/malformed request: not JSON/);
    // the other connection still works
    const answer = new Promise<string>((r) => held.once('data', (d) => r(d.toString())));
    held.write('{"op":"list"}\n');
    expect(JSON.parse(await answer)).toEqual({ ok: true, pods: [] });
    held.destroy();
    expect(await enrolmentRequest(sockPath, { op: 'list' })).toEqual({ ok: true, pods: [] });
  });

  it('rejects an invalid add naming the field', async () => {
    const out = await rawExchange(sockPath, JSON.stringify({ op: 'add', pod: { ...pod, ips: ['10.1.0.999'] } }) + '\n');
    expect(JSON.parse(out)).toEqual({
      ok: false,
      error: 'malformed request: pod.ips[0]: not an IP address: "10.1.0.999"',
    });
    expect(handler.pods.size).toBe(0);
  });

  it('the client reports an unreachable agent and a timeout as errors', async () => {
    await expect(enrolmentRequest(join(dir, 'nope.sock'), { op: 'list' })).rejects.toSatisfy((e) =>
      isAmbitError(e, 'AMBIT_E_UPSTREAM'),
    );
    const slow = join(dir, 'slow.sock');
    const never: EnrolmentHandler = { ...memoryHandler(), query: () => new Promise<boolean>(() => undefined) };
    const slowServer = await startEnrolmentServer(slow, never);
    try {
      await expect(enrolmentRequest(slow, { op: 'query', namespace: 'a', name: 'b' }, 200)).rejects.toSatisfy((e) =>
        isAmbitError(e, 'AMBIT_E_TIMEOUT'),
      );
    } finally {
      await slowServer.close();
    }
  });

  it('replaces a stale socket file but refuses a live one; close removes the socket', async () => {
    await expect(startEnrolmentServer(sockPath, handler)).rejects.toSatisfy((e) => isAmbitError(e, 'AMBIT_E_CONFIG'));
    await server!.close();
    server = undefined;
    await expect(stat(sockPath)).rejects.toThrow();
    const plain = join(dir, 'plain');
    await writeFile(plain, 'x');
    await expect(startEnrolmentServer(plain, handler)).rejects.toThrow(/not a socket/);
  });
});

describe('parseRequest', () => {
  it('validates fields', () => {
    expect(() => parseRequest('{"op":"query","namespace":"a"}')).toThrow('query.name: expected a non-empty string');
    expect(() => parseRequest('{"op":"nuke"}')).toThrow('request.op');
    expect(() => parseRequest('[1]')).toThrow('expected a JSON object');
    expect(parseRequest('{"op":"delete","uid":"x"}')).toEqual({ op: 'delete', uid: 'x' });
  });
});
