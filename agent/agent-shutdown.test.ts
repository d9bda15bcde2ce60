// SIGTERM's drain (Agent.shutdown) without root: the agent's SOCKS5 proxy carries real
// connections on loopback. Nothing open → the agent stops at once; an open connection that
// ends → it stops right after; a connection that never ends → it is closed and the agent
// stops within the deadline. The connection count is back to 0 each time.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigSource } from '../core/config/source.js';
import { CertificateAuthority } from '../core/identity/ca.js';
import type { Credentials } from '../core/identity/types.js';
import { setLogLevel } from '../core/log.js';
import { DEFAULT_MESH_CONFIG } from '../core/model/types.js';
import { Agent, type AgentCertificates } from './agent.js';
import type { AgentSettings } from './config/env.js';
import { freePort } from '../test/support/net.js';

/** SOCKS5 CONNECT to 127.0.0.1:port; resolves once the proxy answered success. */
function socksConnect(socksPort: number, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: socksPort, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', reject);
    s.once('connect', () => s.write(Buffer.from([5, 1, 0])));
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length === 2) {
        const p = Buffer.alloc(2);
        p.writeUInt16BE(port);
        s.write(Buffer.concat([Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]), p]));
      }
      if (buf.length >= 12) {
        s.off('data', onData);
        if (buf[3] === 0) resolve(s);
        else reject(new Error(`socks reply ${buf[3]}`));
      }
    };
    s.on('data', onData);
  });
}

describe('agent shutdown (drain)', () => {
  let dir: string;
  let echo: net.Server;
  let echoPort = 0;
  let ca: CertificateAuthority;

  beforeAll(async () => {
    if (!process.env.AMBIT_LOG_LEVEL) setLogLevel('warn');
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-agent-drain-'));
    ca = await CertificateAuthority.create();
    echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => echo.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(name: string, drainMs: number): Promise<{ agent: Agent; socksPort: number }> {
    const socksPort = await freePort();
    const settings = {
      mode: 'file',
      nodeName: 'drain-node',
      stateDir: path.join(dir, name),
      enrolmentSocket: path.join(dir, `${name}.sock`),
      tokenFile: '',
      trustDomain: 'cluster.local',
      ports: {
        outbound: 15001,
        inboundPlaintext: 15006,
        hbone: 15008,
        admin: 0,
        metrics: 0,
        ready: 0,
        socks5: socksPort,
      },
      localHost: '127.0.0.1',
      publicHost: '127.0.0.1',
      drainMs,
      certTtlSeconds: 3600,
      socks5Namespace: 'ambit-system',
      socks5ServiceAccount: 'ambit-agent',
    } as AgentSettings;
    const config: ConfigSource = {
      start: (apply) => {
        apply({
          version: 'v1',
          mesh: DEFAULT_MESH_CONFIG,
          workloads: [],
          services: [],
          authorizationPolicies: [],
          peerAuthentications: [],
        });
        return Promise.resolve();
      },
      stop: () => Promise.resolve(),
    };
    const held = new Map<string, Credentials>();
    const certs: AgentCertificates = {
      get: async (id) => {
        if (!held.has(id)) held.set(id, await ca.issue(id));
        return held.get(id)!;
      },
      current: (id) => held.get(id),
      forget: (id) => {
        held.delete(id);
      },
      expiries: () => [],
      close: () => undefined,
    };
    const agent = new Agent({ settings, config, certs });
    await agent.start();
    return { agent, socksPort };
  }

  async function timed(p: Promise<void>): Promise<number> {
    const t = Date.now();
    await p;
    return Date.now() - t;
  }

  it('stops at once when nothing is open, whatever the deadline', async () => {
    const { agent, socksPort } = await startAgent('idle', 30_000);
    const s = await socksConnect(socksPort, echoPort);
    s.end();
    await new Promise((r) => s.once('close', r));
    await expect.poll(() => agent.tracker.counts().active).toBe(0);
    expect(await timed(agent.shutdown())).toBeLessThan(1000);
  });

  it('waits for an open connection, and stops as soon as it ends', async () => {
    const { agent, socksPort } = await startAgent('ends', 30_000);
    const s = await socksConnect(socksPort, echoPort);
    s.on('data', () => undefined);
    setTimeout(() => s.end('bye'), 300);
    const ms = await timed(agent.shutdown());
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    expect(agent.tracker.counts().active).toBe(0);
  });

  it('closes a connection that never ends and stops within the deadline', async () => {
    const { agent, socksPort } = await startAgent('stuck', 1000);
    const s = await socksConnect(socksPort, echoPort);
    s.on('error', () => undefined);
    const closed = new Promise((r) => s.once('close', r));
    const ms = await timed(agent.shutdown());
    expect(ms).toBeGreaterThanOrEqual(800);
    expect(ms).toBeLessThan(1200);
    await closed;
    expect(agent.tracker.counts().active).toBe(0);
  });
});
