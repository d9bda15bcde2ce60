// What the boot test looks at: an agent's admin dump (from inside its node), a packet capture
// of the inter-node link, and a direct call to the controller's CA with a real agent token.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { RELEASE_NAMESPACE } from './chart.js';
import type { Cluster } from './cluster.js';
import { sh } from './net.js';

export interface AgentDump {
  pods?: Array<{ namespace: string; name: string; identity?: string }>;
  workloads?: Array<{ uid: string; name?: string; namespace?: string }>;
  certificates?: Array<{ identity: string; notAfter: string }>;
}

/** GET the agent's admin /config_dump on its node (it listens on the node's 127.0.0.1). */
export async function agentDump(cluster: Cluster, node: string, adminPort = 15000): Promise<AgentDump> {
  const n = cluster.kubelet(node).node;
  const r = await sh('ip', [
    'netns',
    'exec',
    n.netns,
    'curl',
    '-sS',
    '-m',
    '3',
    `http://127.0.0.1:${adminPort}/config_dump`,
  ]);
  if (r.code !== 0) throw new Error(`agent admin on ${node}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as AgentDump;
}

export interface Capture {
  stop(): Promise<{ bytes: Buffer; summary: string }>;
}

/** tcpdump on node-a's end of the inter-node link (raw packets, pcap on its stdout). */
export async function captureInterNode(cluster: Cluster): Promise<Capture> {
  const n = cluster.nodes[0];
  const child = spawn(
    'ip',
    ['netns', 'exec', n.netns, 'tcpdump', '-i', n.peerVeth, '--immediate-mode', '-U', '-s', '0', '-w', '-', 'tcp'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => chunks.push(b));
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 5000);
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited ${code}: ${err}`));
    });
  });
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 300));
      const gone = new Promise((r) => child.once('close', r));
      child.kill('SIGINT');
      await gone;
      const bytes = Buffer.concat(chunks);
      const summary = await new Promise<string>((resolve) => {
        const r = spawn('tcpdump', ['-nn', '-r', '-'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let out = '';
        r.stdout.on('data', (b: Buffer) => {
          out += b.toString();
        });
        r.on('close', () => resolve(out));
        r.stdin.on('error', () => undefined);
        r.stdin.end(bytes);
      });
      return { bytes, summary: `${summary}\n${err}` };
    },
  };
}

/** TLS records (handshake 0x16 or application data 0x17, version 3.x) somewhere in the capture. */
export function hasTlsRecords(bytes: Buffer): boolean {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if ((bytes[i] === 0x17 || bytes[i] === 0x16) && bytes[i + 1] === 0x03 && bytes[i + 2] === 0x03) return true;
  }
  return false;
}

/**
 * Ask the controller's CA for `identity` with the token the agent of `node` really holds (its
 * projected token file), sending `claimNode` as the node-name metadata. Resolves to the
 * certificate chain or rejects with the CA's answer.
 */
export async function signWithAgentToken(
  cluster: Cluster,
  node: string,
  identity: string,
  claimNode: string,
): Promise<string> {
  const token = (await readFile(agentTokenFile(cluster, node), 'utf8')).trim();
  const roots = cluster.api.getObject('ConfigMap', 'ambit-ca-root-cert', RELEASE_NAMESPACE)?.data as
    Record<string, string> | undefined;
  const rootsPem = roots?.['root-cert.pem'];
  if (!rootsPem) throw new Error('no ConfigMap ambit-ca-root-cert with root-cert.pem');
  const controller = cluster
    .pods()
    .find((p) => p.namespace === RELEASE_NAMESPACE && p.name.startsWith('ambit-controller') && p.ready);
  if (!controller) throw new Error('no ready controller pod');
  const client = createGrpcCaClient({
    address: `${controller.ip}:15012`,
    rootsPem,
    token,
    nodeName: claimNode,
    timeoutMs: 5000,
  });
  try {
    const key = await generateWorkloadKey();
    const signed = await client.sign({ csrPem: createCsr(identity, key.privateKey), identity, ttlSeconds: 3600 });
    return signed.certChainPem;
  } finally {
    client.close();
  }
}

/** The projected ambit-ca token file the kubelet wrote for the node's agent pod. */
export function agentTokenFile(cluster: Cluster, node: string): string {
  const agent = cluster
    .pods()
    .find((p) => p.namespace === RELEASE_NAMESPACE && p.node === node && p.hostNetwork && p.containers.has('agent'));
  if (!agent) throw new Error(`no agent pod on ${node}`);
  const mount = agent.containers
    .get('agent')!
    .spec.mounts.find((m) => m.target.startsWith('/var/run/secrets/ambit') && !m.target.endsWith('/ca'));
  if (!mount) throw new Error(`the agent on ${node} mounts no token under /var/run/secrets/ambit`);
  return path.join(mount.source, 'token');
}
