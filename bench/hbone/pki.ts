// Certificates for the benchmark: one CA from core/identity, a client ("source") and a server
// ("destination") identity, written to a temporary directory in the forms each peer wants:
// a JSON file for the Node helpers, PEM files (cert chain + key; CA bundle) for HAProxy.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';

export const TRUST_DOMAIN = 'bench.local';
export const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/ns/bench/sa/client`;
export const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/bench/sa/server`;

export interface BenchPki {
  readonly dir: string;
  readonly client: Credentials;
  readonly server: Credentials;
  /** JSON {client, server} for the Node helper processes (see loadCredentialsFile). */
  readonly credentialsFile: string;
  /** PEM: client chain + key, server chain + key, trust bundle (HAProxy `crt` / `ca-file`). */
  readonly clientPem: string;
  readonly serverPem: string;
  readonly caPem: string;
  remove(): void;
}

export async function createBenchPki(): Promise<BenchPki> {
  const ca = await CertificateAuthority.create({ trustDomain: TRUST_DOMAIN });
  const ttlSeconds = 6 * 3600; // outlives any run: no rotation during a measurement
  const client = await ca.issue(CLIENT_ID, { ttlSeconds });
  const server = await ca.issue(SERVER_ID, { ttlSeconds });
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-hbone-'));
  const file = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, body, { mode: 0o600 });
    return path;
  };
  const withNewline = (pem: string): string => (pem.endsWith('\n') ? pem : pem + '\n');
  return {
    dir,
    client,
    server,
    credentialsFile: file('credentials.json', JSON.stringify({ client, server })),
    clientPem: file('client.pem', withNewline(client.certChainPem) + withNewline(client.keyPem)),
    serverPem: file('server.pem', withNewline(server.certChainPem) + withNewline(server.keyPem)),
    caPem: file('ca.pem', withNewline(ca.rootsPem)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface CredentialsJson {
  identity: string;
  keyPem: string;
  certChainPem: string;
  rootsPem: string;
  notBefore: string;
  notAfter: string;
}

/** Reads the credentials file a helper process was given. */
export function loadCredentialsFile(path: string): { client: Credentials; server: Credentials } {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { client: CredentialsJson; server: CredentialsJson };
  const revive = (c: CredentialsJson): Credentials => ({
    ...c,
    notBefore: new Date(c.notBefore),
    notAfter: new Date(c.notAfter),
  });
  return { client: revive(raw.client), server: revive(raw.server) };
}
