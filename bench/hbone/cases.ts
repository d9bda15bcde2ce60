// The six cases of the hbone bench (CONTRACT.md): how each chain is started, where the load
// generator connects, and which processes' CPU counts as the chain's.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Child, ChildGroup } from '../common/children.js';
import { startHaproxyChain } from './haproxy.js';
import type { BenchPki } from './pki.js';
import { SERVER_ID } from './pki.js';

export const CASES = ['direct-tcp', 'node-tls', 'node-relay', 'hbone-1proc', 'hbone-2proc', 'haproxy-chain'] as const;
export type CaseName = (typeof CASES)[number];

export function isCaseName(s: string): s is CaseName {
  return (CASES as readonly string[]).includes(s);
}

/** The destinations every chain forwards to. */
export interface Targets {
  readonly iperf: number;
  readonly echo: number;
  readonly tlsEcho: number;
  readonly tlsSink: number;
  /** The target helper process (TLS servers of node-tls live there). */
  readonly targetPid: number;
}

export interface TlsSpec {
  readonly credentials: string;
  readonly serverId: string;
}

export interface CaseSetup {
  readonly name: CaseName;
  /** Bulk: iperf3 client → port (TCP cases) or the Node TLS writer → port (node-tls). */
  readonly bulk: { readonly via: 'iperf3' | 'node'; readonly port: number };
  /** Request/response and new-connection tests connect here. */
  readonly echoPort: number;
  readonly tls?: TlsSpec;
  /** Processes whose CPU is the chain's (relays, proxies; for node-tls the TLS server). */
  readonly chainPids: readonly number[];
  /** True when the endpoints are the chain (direct-tcp, node-tls): their CPU counts too. */
  readonly endpointsCount: boolean;
  readonly stop: () => Promise<void>;
}

export interface CaseContext {
  readonly group: ChildGroup;
  readonly pki: BenchPki;
  readonly targets: Targets;
  readonly haproxyThreads: number;
}

const here = dirname(fileURLToPath(import.meta.url));
export const helperScript = (name: 'chain-proc' | 'loadgen' | 'target'): string => join(here, `${name}.js`);

interface ChainReady {
  entry: Record<string, number>;
  hbonePort?: number;
}

async function startChainProc(
  ctx: CaseContext,
  name: string,
  spec: Record<string, unknown>,
): Promise<{ child: Child; ready: ChainReady }> {
  const child = await ctx.group.start(process.execPath, [helperScript('chain-proc'), JSON.stringify(spec)], {
    name,
    readyLine: /^READY /,
  });
  return { child, ready: JSON.parse(child.readyMessage.slice('READY '.length)) as ChainReady };
}

function entryPorts(entry: Record<string, number>): { bulk: number; echo: number } {
  const bulk = entry.bulk;
  const echo = entry.echo;
  if (!bulk || !echo) throw new Error(`chain did not report both entry ports: ${JSON.stringify(entry)}`);
  return { bulk, echo };
}

export async function setupCase(name: CaseName, ctx: CaseContext): Promise<CaseSetup> {
  const t = ctx.targets;
  const routes = { bulk: t.iperf, echo: t.echo };
  const stopAll = (children: readonly Child[]) => async (): Promise<void> => {
    await Promise.all(children.map((c) => ctx.group.stop(c)));
  };
  switch (name) {
    case 'direct-tcp':
      return {
        name,
        bulk: { via: 'iperf3', port: t.iperf },
        echoPort: t.echo,
        chainPids: [],
        endpointsCount: true,
        stop: async () => {},
      };
    case 'node-tls':
      return {
        name,
        bulk: { via: 'node', port: t.tlsSink },
        echoPort: t.tlsEcho,
        tls: { credentials: ctx.pki.credentialsFile, serverId: SERVER_ID },
        chainPids: [t.targetPid],
        endpointsCount: true,
        stop: async () => {},
      };
    case 'node-relay': {
      const { child, ready } = await startChainProc(ctx, 'node-relay', { role: 'tcp-relay', routes });
      const p = entryPorts(ready.entry);
      return {
        name,
        bulk: { via: 'iperf3', port: p.bulk },
        echoPort: p.echo,
        chainPids: [child.pid],
        endpointsCount: false,
        stop: stopAll([child]),
      };
    }
    case 'hbone-1proc': {
      const { child, ready } = await startChainProc(ctx, 'hbone-1proc', {
        role: 'hbone-both',
        credentials: ctx.pki.credentialsFile,
        routes,
      });
      const p = entryPorts(ready.entry);
      return {
        name,
        bulk: { via: 'iperf3', port: p.bulk },
        echoPort: p.echo,
        chainPids: [child.pid],
        endpointsCount: false,
        stop: stopAll([child]),
      };
    }
    case 'hbone-2proc': {
      const server = await startChainProc(ctx, 'hbone-server', {
        role: 'hbone-server',
        credentials: ctx.pki.credentialsFile,
      });
      const client = await startChainProc(ctx, 'hbone-client', {
        role: 'hbone-client',
        credentials: ctx.pki.credentialsFile,
        hbonePort: server.ready.hbonePort,
        routes,
      });
      const p = entryPorts(client.ready.entry);
      return {
        name,
        bulk: { via: 'iperf3', port: p.bulk },
        echoPort: p.echo,
        chainPids: [client.child.pid, server.child.pid],
        endpointsCount: false,
        stop: stopAll([client.child, server.child]),
      };
    }
    case 'haproxy-chain': {
      const chain = await startHaproxyChain(
        ctx.group,
        ctx.pki.dir,
        { client: ctx.pki.clientPem, server: ctx.pki.serverPem, ca: ctx.pki.caPem },
        [
          { name: 'bulk', targetPort: t.iperf },
          { name: 'echo', targetPort: t.echo },
        ],
        ctx.haproxyThreads,
      );
      const p = entryPorts(chain.entry);
      return {
        name,
        bulk: { via: 'iperf3', port: p.bulk },
        echoPort: p.echo,
        chainPids: chain.children.map((c) => c.pid),
        endpointsCount: false,
        stop: stopAll(chain.children),
      };
    }
  }
}
