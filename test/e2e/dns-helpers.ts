// Helpers of the DNS proxy suites: a tiny resolver a pod's resolv.conf names, the pod's own
// /etc/resolv.conf (ip netns exec binds /etc/netns/<name>/), and getaddrinfo / a fetch by
// name from inside a pod.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PodNetns } from '../support/cni-chain.js';
import { addressRecord, decodeMessage, encodeMessage, RCODE, TYPE } from '../../core/dns/wire.js';

const run = promisify(execFile);

/** A resolver on `address`:53 (UDP and TCP): answers A for the names it knows, NXDOMAIN for others; records who asked what. */
export class TestResolver {
  readonly seen: { name: string; from: string }[] = [];
  private readonly udp = dgram.createSocket('udp4');
  private readonly tcp = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      const answer = this.answer(d.subarray(2), s.remoteAddress ?? '');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(answer.length);
      s.end(Buffer.concat([len, answer]));
    });
  });
  private up = false;

  constructor(
    readonly address: string,
    private readonly known: Readonly<Record<string, string>>,
  ) {}

  private answer(bytes: Buffer, from: string): Buffer {
    const q = decodeMessage(bytes);
    const name = q.questions[0]?.name.toLowerCase() ?? '';
    this.seen.push({ name, from });
    const ip = this.known[name];
    return encodeMessage({
      ...q,
      response: true,
      recursionAvailable: true,
      rcode: ip ? RCODE.NOERROR : RCODE.NXDOMAIN,
      answers: ip && q.questions[0]?.type === TYPE.A ? [addressRecord(name, ip, 60)] : [],
    });
  }

  async start(): Promise<void> {
    this.udp.on('message', (m, r) => {
      try {
        this.udp.send(this.answer(m, r.address), r.port, r.address);
      } catch {
        /* garbage: no answer */
      }
    });
    await new Promise<void>((resolve) => this.udp.bind(53, this.address, resolve));
    await new Promise<void>((resolve) => this.tcp.listen(53, this.address, resolve));
    this.up = true;
  }

  async stop(): Promise<void> {
    if (!this.up) return;
    this.udp.close();
    await new Promise((r) => this.tcp.close(r));
  }
}

/** Give each pod an /etc/resolv.conf naming `resolver` (no search list); returns the dirs to remove. */
export async function podResolvConf(pods: readonly PodNetns[], resolver: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const pod of pods) {
    const etc = `/etc/netns/${pod.netnsName}`;
    await mkdir(etc, { recursive: true });
    dirs.push(etc);
    await writeFile(path.join(etc, 'resolv.conf'), `nameserver ${resolver}\noptions timeout:2 attempts:2\n`);
  }
  return dirs;
}

export async function removeDirs(dirs: readonly string[]): Promise<void> {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

/** Run a command inside the pod's netns with its own /etc/resolv.conf. */
export async function inPod(pod: PodNetns, cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', pod.netnsName, cmd, ...args], { timeout: 30_000 });
  return stdout;
}

/** getaddrinfo (IPv4) inside the pod, as an app resolves a name; [] when it does not resolve. */
export async function resolveInPod(pod: PodNetns, name: string): Promise<string[]> {
  try {
    const out = await inPod(pod, 'getent', ['ahostsv4', name]);
    return [...new Set(out.split('\n').map((l) => l.split(/\s+/)[0] ?? ''))].filter((ip) => ip !== '');
  } catch {
    return []; // getent exits 2 when the name does not resolve
  }
}

/** `fetch(url)` from inside the pod (Node resolves the name with getaddrinfo): "<status> <body>" or "failed <code>". */
export async function fetchInPod(pod: PodNetns, url: string): Promise<string> {
  const script =
    `fetch(${JSON.stringify(url)}).then(async (r) => console.log(r.status, await r.text()))` +
    `.catch((e) => console.log('failed', e.cause?.code ?? e.message))`;
  return (await inPod(pod, process.execPath, ['-e', script])).trim();
}
