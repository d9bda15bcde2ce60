// The CA service over real gRPC + TLS on 127.0.0.1, with the core gRPC CaClient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { addCertificateService, identitiesAllowedFrom } from './service.js';
import { nodeTokenFileAuthenticator, tokenReviewAuthenticator, type Authenticate } from './auth.js';
import { createGrpcCaClient, type GrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { certificateService } from '../../core/identity/ca-proto.js';
import { CertificateStore } from '../../core/identity/cert-store.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { parseCertificates } from '../../core/identity/x509.js';
import { identityOfCertificate } from '../../core/identity/verify.js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import { createLogger } from '../../core/log.js';
import { testCa, testCredentials } from '../../test/helpers/pki.js';

const TD = 'cluster.local';
const SLEEP = `spiffe://${TD}/ns/default/sa/sleep`; // scheduled on node-a
const HTTPBIN = `spiffe://${TD}/ns/backend/sa/httpbin`; // scheduled on node-b
const WAYPOINT = `spiffe://${TD}/ns/default/sa/waypoint`;
const CONTROLLER = `spiffe://${TD}/ns/ambit-system/sa/ambit-controller`;
const TOKEN_A = 'token-node-a-0123456789abcdef';
const TOKEN_WP = 'token-waypoint-0123456789abcdef';

const onNode: Record<string, string[]> = { 'node-a': [SLEEP], 'node-b': [HTTPBIN] };
let dir: string;
let ca: CertificateAuthority;
const servers: grpc.Server[] = [];
const clients: GrpcCaClient[] = [];
const issued: string[] = [];

async function startServer(authenticate: Authenticate): Promise<string> {
  const server = new grpc.Server();
  addCertificateService(server, {
    ca, authenticate, identitiesAllowed: identitiesAllowedFrom((node) => onNode[node] ?? []),
    log: createLogger('ca-test'), onIssued: (e) => issued.push(e.identity),
  });
  const serving = await testCredentials(ca, 'ambit-system', 'ambit-controller');
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.certChainPem) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  servers.push(server);
  return `127.0.0.1:${port}`;
}

function client(address: string, token: string, extra: { nodeName?: string; serverIdentity?: string; rootsPem?: string } = {}): GrpcCaClient {
  const c = createGrpcCaClient({ address, rootsPem: extra.rootsPem ?? ca.rootsPem, token, serverIdentity: extra.serverIdentity ?? CONTROLLER, ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) });
  clients.push(c);
  return c;
}

async function csrFor(identity: string): Promise<string> {
  return createCsr(identity, (await generateWorkloadKey()).privateKey);
}

let fileAddress: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ambit-ca-svc-'));
  ca = await testCa(TD);
  writeFileSync(join(dir, 'tokens'), `# node tokens\n${TOKEN_A} node-a\n${TOKEN_WP} ${WAYPOINT}\n`);
  fileAddress = await startServer(nodeTokenFileAuthenticator(join(dir, 'tokens')));
});
afterAll(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('CA service (file mode tokens)', () => {
  it('signs for a service account of a pod on the caller\'s node; the chain verifies to the root', async () => {
    const store = new CertificateStore({ ca: client(fileAddress, TOKEN_A), ttlSeconds: 3600 });
    const creds = await store.get(SLEEP);
    store.close();
    const [leaf] = parseCertificates(creds.certChainPem);
    expect(identityOfCertificate(leaf!)).toBe(SLEEP);
    expect(leaf!.verify(parseCertificates(ca.rootsPem)[0]!.publicKey)).toBe(true);
    expect(creds.rootsPem).toBe(ca.rootsPem);
    expect((creds.notAfter.getTime() - Date.now()) / 1000).toBeGreaterThan(3500);
    expect(issued).toContain(SLEEP);
  });

  it('refuses another node\'s service account with PERMISSION_DENIED and a clear message', async () => {
    const err = await client(fileAddress, TOKEN_A).sign({ csrPem: await csrFor(HTTPBIN), identity: HTTPBIN, ttlSeconds: 60 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AMBIT_E_CA' });
    expect((err as Error).message).toContain(`PERMISSION_DENIED: node node-a may not obtain certificates for ${HTTPBIN}: no pod of that service account is scheduled on node-a`);
    expect((err as { hint?: string }).hint).toMatch(/this node/);
  });

  it('a waypoint obtains its own identity and nothing else', async () => {
    const wp = client(fileAddress, TOKEN_WP);
    const ok = await wp.sign({ csrPem: await csrFor(WAYPOINT), identity: WAYPOINT, ttlSeconds: 60 });
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(WAYPOINT);
    await expect(wp.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }))
      .rejects.toThrow(`PERMISSION_DENIED: waypoint ${WAYPOINT} may not obtain certificates for ${SLEEP}`);
  });

  it('refuses an unknown token and a call without one (UNAUTHENTICATED)', async () => {
    await expect(client(fileAddress, 'not-a-known-token-0123456789').sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }))
      .rejects.toThrow(/UNAUTHENTICATED: token refused: unknown token/);
    const Service = certificateService();
    const raw = new Service(fileAddress, grpc.credentials.createSsl(Buffer.from(ca.rootsPem), null, null, { checkServerIdentity: () => undefined }));
    const status = await new Promise<grpc.ServiceError>((resolve) => {
      (raw as unknown as { CreateCertificate: (r: object, cb: (e: grpc.ServiceError) => void) => void }).CreateCertificate({ csr: '' }, resolve);
    });
    raw.close();
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/authorization: Bearer/);
  });

  it('refuses a CSR with a bad signature (INVALID_ARGUMENT)', async () => {
    const csr = await csrFor(SLEEP);
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 3]! ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(client(fileAddress, TOKEN_A).sign({ csrPem: tampered, identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(/INVALID_ARGUMENT: AMBIT_E_CSR: the CSR signature does not verify/);
  });

  it('the client refuses a server with the wrong identity or an untrusted root', async () => {
    await expect(client(fileAddress, TOKEN_A, { serverIdentity: `spiffe://${TD}/ns/x/sa/impostor` }).sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }))
      .rejects.toThrow(/UNAVAILABLE.*presented spiffe:\/\/cluster.local\/ns\/ambit-system\/sa\/ambit-controller, expected .*impostor/);
    const other = await testCa(TD);
    await expect(client(fileAddress, TOKEN_A, { rootsPem: other.rootsPem }).sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }))
      .rejects.toThrow(/UNAVAILABLE.*(certificate|verify)/i);
  });

  it('an agent store rotates a 2 s certificate over gRPC', async () => {
    const store = new CertificateStore({ ca: client(fileAddress, TOKEN_A), ttlSeconds: 2 });
    const first = await store.get(SLEEP);
    const rotated = await new Promise<typeof first>((resolve) => store.onRotate(resolve));
    store.close();
    expect(parseCertificates(rotated.certChainPem)[0]!.serialNumber).not.toBe(parseCertificates(first.certChainPem)[0]!.serialNumber);
  });
});

describe('CA service (TokenReview)', () => {
  const reviews: Record<string, { authenticated: boolean; username?: string; extra?: Record<string, string[]> }> = {
    'agent-token': { authenticated: true, username: 'system:serviceaccount:ambit-system:ambit-agent' },
    'bound-agent-token': { authenticated: true, username: 'system:serviceaccount:ambit-system:ambit-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-b'] } },
    'waypoint-token': { authenticated: true, username: 'system:serviceaccount:default:waypoint' },
    'user-token': { authenticated: true, username: 'kubernetes-admin' },
  };
  let address: string;
  beforeAll(async () => {
    address = await startServer(tokenReviewAuthenticator({ trustDomain: TD, reviewToken: async (t) => reviews[t] ?? { authenticated: false, error: 'token expired' } }));
  });

  it('an agent names its node in metadata and gets that node\'s identities', async () => {
    const c = client(address, 'agent-token', { nodeName: 'node-a' });
    const ok = await c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 });
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(SLEEP);
    await expect(c.sign({ csrPem: await csrFor(HTTPBIN), identity: HTTPBIN, ttlSeconds: 60 })).rejects.toThrow(/node node-a may not obtain certificates/);
  });

  it('a node-bound token must agree with the claimed node', async () => {
    await expect(client(address, 'bound-agent-token', { nodeName: 'node-a' }).sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }))
      .rejects.toThrow(/UNAUTHENTICATED: token refused: agent token is bound to node node-b, not node-a/);
    const ok = await client(address, 'bound-agent-token').sign({ csrPem: await csrFor(HTTPBIN), identity: HTTPBIN, ttlSeconds: 60 });
    expect(ok.certChainPem).toContain('BEGIN CERTIFICATE');
  });

  it('another service account obtains only its own identity; bad tokens and users are refused', async () => {
    const ok = await client(address, 'waypoint-token').sign({ csrPem: await csrFor(WAYPOINT), identity: WAYPOINT, ttlSeconds: 60 });
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(WAYPOINT);
    await expect(client(address, 'agent-token').sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(/did not send ambit-node-name/);
    await expect(client(address, 'user-token').sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(/"kubernetes-admin" is not a service account/);
    await expect(client(address, 'expired').sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(/did not authenticate the token: token expired/);
  });
});


describe('gRPC CA client options', () => {
  it('refuses to start without a token, roots or address', () => {
    expect(() => createGrpcCaClient({ address: '127.0.0.1:1', rootsPem: ca.rootsPem } as never)).toThrow(/no token/);
    expect(() => createGrpcCaClient({ address: '127.0.0.1:1', rootsPem: '', token: 'x' })).toThrow(/rootsPem holds no PEM/);
    expect(() => createGrpcCaClient({ address: '', rootsPem: ca.rootsPem, token: 'x' })).toThrow(/no controller address/);
  });
});
