// Hosts outside the mesh for `local up`: a Pod annotated `ambit.dev/outside-mesh-address: <IPv4>`
// is not a pod of the cluster. The controller never sees it (it is in no registry, as a server
// on the internet is not); its command runs in a network namespace of its own at that address,
// joined to the host by a veth pair (host side: a /32 route and proxy ARP, so the pods reach it
// through the host as they would reach the internet, and it answers them the same way).
// Each one gets a server certificate from a CA of its own (not the mesh's), for the DNS names of
// the ServiceEntries whose endpoints are its address; the CA, and a client certificate the
// server accepts, are published as the credential named like the pod (`<dir>/<name>/ca.crt`,
// tls.crt, tls.key), the layout DestinationRule `credentialName` reads.
import { mkdir, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';
import { makeExternalPki } from '../../core/identity/external-pki.js';
import type { KubeObject } from '../../controller/sources/types.js';
import type { Service } from '../../core/model/types.js';
import { run } from './cni-chain.js';

export const OUTSIDE_MESH_ANNOTATION = 'ambit.dev/outside-mesh-address';

export interface OutsideHost {
  readonly namespace: string;
  readonly name: string;
  readonly address: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export function isOutsideHost(obj: KubeObject): boolean {
  return obj.kind === 'Pod' && obj.metadata.annotations?.[OUTSIDE_MESH_ANNOTATION] !== undefined;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});

/** The outside host a Pod describes; throws AmbitError naming the field. */
export function outsideHostOf(obj: KubeObject): OutsideHost {
  const ns = obj.metadata.namespace ?? 'default';
  const where = `Pod/${ns}/${obj.metadata.name}`;
  const address = obj.metadata.annotations?.[OUTSIDE_MESH_ANNOTATION] ?? '';
  if (!isIPv4(address))
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `${where}: metadata.annotations.${OUTSIDE_MESH_ANNOTATION}: "${address}" is not an IPv4 address`,
    );
  const c = rec((Array.isArray(rec(obj.spec).containers) ? (rec(obj.spec).containers as unknown[]) : [])[0]);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const command = [...strings(c.command), ...strings(c.args)];
  if (command.length === 0) throw new AmbitError('AMBIT_E_CONFIG', `${where}: spec.containers[0].command: empty`);
  const env: Record<string, string> = {};
  for (const e of Array.isArray(c.env) ? c.env.map(rec) : [])
    if (typeof e.name === 'string') env[e.name] = e.value === undefined ? '' : String(e.value);
  return { namespace: ns, name: obj.metadata.name, address, command, env };
}

/** Interface names are at most 15 bytes: the host end is `<prefix>o<i>`, shortened to fit. */
export function hostVethName(prefix: string, index: number): string {
  const suffix = `o${index}`;
  return `${prefix.slice(0, 15 - suffix.length)}${suffix}`;
}

/**
 * The routing table of a mesh's routes to its outside hosts: with `iif <bridge>` rules, meshes
 * side by side (test suites) may each have a host at the same address, as every copy of the
 * example does.
 */
export function outsideHostTable(bridge: string): number {
  let h = 0;
  for (const c of bridge) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 1000 + (h % 30000);
}

/**
 * The netns, the veth pair and the routes of one outside host (undone by deleting the netns;
 * the policy rule of `bridge`, when given, is replaced on the next run with that bridge).
 * Without `bridge` the route is in the main table (one mesh per machine at that address).
 */
export async function addOutsideHostNetwork(o: {
  netnsName: string;
  hostVeth: string;
  address: string;
  bridge?: string;
}): Promise<void> {
  const ip = async (...args: string[]): Promise<void> => {
    const r = await run('ip', args);
    if (r.code !== 0)
      throw new AmbitError('AMBIT_E_NETNS', `ip ${args.join(' ')}: ${r.stderr.trim()}`, {
        hint: 'a host outside the mesh of a previous run may be left: `ambitctl local down`',
      });
  };
  await run('ip', ['netns', 'del', o.netnsName]);
  await run('ip', ['link', 'del', o.hostVeth]);
  await ip('netns', 'add', o.netnsName);
  await ip('link', 'add', o.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.netnsName);
  await ip('-n', o.netnsName, 'link', 'set', 'lo', 'up');
  await ip('-n', o.netnsName, 'addr', 'add', `${o.address}/32`, 'dev', 'eth0');
  await ip('-n', o.netnsName, 'link', 'set', 'eth0', 'up');
  // Every destination is "on the link"; the host answers ARP for all of them (proxy ARP).
  await ip('-n', o.netnsName, 'route', 'add', 'default', 'dev', 'eth0');
  await ip('link', 'set', o.hostVeth, 'up');
  await writeFile(`/proc/sys/net/ipv4/conf/${o.hostVeth}/proxy_arp`, '1');
  if (!o.bridge) {
    await ip('route', 'replace', `${o.address}/32`, 'dev', o.hostVeth);
    return;
  }
  await dropDetachedRules();
  const table = String(outsideHostTable(o.bridge));
  const selector = ['iif', o.bridge, 'to', `${o.address}/32`, 'lookup', table];
  while ((await run('ip', ['rule', 'del', ...selector])).code === 0);
  await ip('rule', 'add', ...selector);
  await ip('route', 'replace', `${o.address}/32`, 'dev', o.hostVeth, 'table', table);
}

/**
 * Rules of earlier runs whose bridge is gone (a rule outlives its `iif` device): those this
 * module adds (a /32 destination, a table of outsideHostTable's range, a detached bridge).
 */
async function dropDetachedRules(): Promise<void> {
  const listed = await run('ip', ['-j', 'rule', 'show']);
  if (listed.code !== 0) return;
  let rules: Array<{ dst?: string; iif?: string; iif_detached?: unknown; table?: string }>;
  try {
    rules = JSON.parse(listed.stdout) as typeof rules;
  } catch {
    return;
  }
  for (const r of rules) {
    const table = Number(r.table);
    if (!('iif_detached' in r) || !r.iif || !r.dst || !(table >= 1000 && table < 31000)) continue;
    await run('ip', ['rule', 'del', 'iif', r.iif, 'to', `${r.dst}/32`, 'lookup', String(table)]);
  }
}

/** DNS names of the ServiceEntry hosts whose endpoints are `address`. */
export function serverNamesFor(services: readonly Service[], address: string): string[] {
  const names = services
    .filter((s) => s.external && s.endpoints.some((e) => e.address === address) && !s.hostname.startsWith('*'))
    .map((s) => s.hostname);
  return [...new Set(names)];
}

/**
 * Writes the host's server certificate (its own folder) and the credential the mesh uses to
 * reach it; returns the environment its command gets (TLS_CERT, TLS_KEY, TLS_CA).
 */
export async function writeOutsideHostPki(o: {
  stateDir: string;
  credentialsDir: string;
  host: Pick<OutsideHost, 'name' | 'address'>;
  serverNames: readonly string[];
}): Promise<Record<string, string>> {
  const pki = makeExternalPki(o.serverNames.length > 0 ? o.serverNames : [o.host.name]);
  const own = path.join(o.stateDir, 'outside', o.host.name);
  const cred = path.join(o.credentialsDir, o.host.name);
  await mkdir(own, { recursive: true });
  await mkdir(cred, { recursive: true });
  await writeFile(path.join(own, 'tls.crt'), pki.serverCertPem);
  await writeFile(path.join(own, 'tls.key'), pki.serverKeyPem, { mode: 0o600 });
  await writeFile(path.join(own, 'ca.crt'), pki.caPem);
  await writeFile(path.join(cred, 'ca.crt'), pki.caPem);
  await writeFile(path.join(cred, 'tls.crt'), pki.clientCertPem);
  await writeFile(path.join(cred, 'tls.key'), pki.clientKeyPem, { mode: 0o600 });
  return {
    TLS_CERT: path.join(own, 'tls.crt'),
    TLS_KEY: path.join(own, 'tls.key'),
    TLS_CA: path.join(own, 'ca.crt'),
  };
}
