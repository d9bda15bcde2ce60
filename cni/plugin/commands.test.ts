// ADD against a real agent socket (core/enrolment), without root: when the agent cannot
// decide a pod's enrolment yet, the ADD fails with the spec's "try again later" before it
// touches the pod's network namespace, so the kubelet retries and nothing starts uncaptured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RetryLater,
  startEnrolmentServer,
  type EnrolmentHandler,
  type EnrolmentServer,
} from '../../core/enrolment/index.js';
import { setLogSink } from '../../core/log.js';
import { runCni } from './commands.js';
import { CNI_CODES } from './errors.js';

let dir: string;
let server: EnrolmentServer;
const seen: string[] = [];
let decide: (ns: string) => boolean = () => {
  throw new RetryLater('namespace shop is not known to this agent yet');
};

beforeAll(async () => {
  setLogSink({ write: () => true });
  dir = mkdtempSync(join(tmpdir(), 'ambit-cni-cmd-'));
  const handler: EnrolmentHandler = {
    query: async (q) => {
      seen.push(`query ${q.namespace}/${q.name}`);
      return decide(q.namespace);
    },
    add: async (p) => {
      seen.push(`add ${p.namespace}/${p.name}`);
    },
    delete: async () => {},
    list: async () => [],
  };
  server = await startEnrolmentServer(join(dir, 'agent.sock'), handler);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  setLogSink(process.stderr);
});

const conf = (): string =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'pods',
    type: 'ambit-cni',
    agentSocket: join(dir, 'agent.sock'),
    prevResult: {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/does-not-exist' }],
      ips: [{ interface: 0, address: '10.9.0.5/24' }],
    },
  });
const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/does-not-exist',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1',
};

describe('ambit-cni ADD when the agent asks to retry', () => {
  it("fails with code 11 (try again later) and the agent's reason, before touching the pod", async () => {
    seen.length = 0;
    const out = await runCni(env, conf());
    expect(out.exitCode).toBe(1);
    const result = JSON.parse(out.stdout) as { code: number; msg: string; details: string; cniVersion: string };
    expect(result).toEqual({
      cniVersion: '1.0.0',
      code: CNI_CODES.TRY_AGAIN_LATER,
      msg: 'the ambit agent cannot decide enrolment of shop/web-1 yet; try again later',
      details: 'namespace shop is not known to this agent yet',
    });
    // The netns does not exist: had the plugin gone on, it would have failed with code 3 instead.
    expect(seen).toEqual(['query shop/web-1']);
  });

  it('passes a pod of a known non-ambient namespace through unchanged', async () => {
    decide = () => false;
    const out = await runCni(env, conf());
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.9.0.5/24' }] });
  });
});
