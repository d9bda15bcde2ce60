// The CA service over real gRPC + TLS on 127.0.0.1, with the core gRPC CaClient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { addCertificateService, identitiesAllowedFrom } from './service.js';
import { createPublicKey, generateKeyPairSync, sign as signBytes, type KeyObject } from 'node:crypto';
import {
  nodeTokenFileAuthenticator,
  tokenReviewAuthenticator,
  type Authenticate,
  type BoundObjectLookup,
  type TokenReviewResult,
} from './auth.js';
import { caRequestLimit, narrowReceiveLimit } from './message-limit.js';
import { AmbitError } from '../../core/errors.js';
import { FailureLimiter } from './failure-limit.js';
import { integer, oid, sequence, setOf, explicit, bitString } from '../../core/identity/der.js';
import { name, OID, toPem, uriSanExtension } from '../../core/identity/x509.js';
import { createGrpcCaClient, type GrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { certificateService } from '../../core/identity/ca-proto.js';
import { CertificateStore } from '../../core/identity/cert-store.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { parseCertificates } from '../../core/identity/x509.js';
import { identityOfCertificate } from '../../core/identity/verify.js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import { createLogger } from '../../core/log.js';
import { testCa, testCredentials } from '../../test/support/pki.js';

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

/** A service on the same server with no limit of its own: it keeps the server's. */
const ECHO = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

async function echo(address: string, payload: Buffer): Promise<Buffer> {
  const Echo = grpc.makeGenericClientConstructor(ECHO, 'Echo');
  const c = new Echo(
    address,
    grpc.credentials.createSsl(Buffer.from(ca.rootsPem), null, null, { checkServerIdentity: () => undefined }),
    { 'grpc.max_receive_message_length': -1 },
  );
  try {
    return await new Promise<Buffer>((resolve, reject) =>
      (c as unknown as { Echo: (b: Buffer, cb: (e: Error | null, r: Buffer) => void) => void }).Echo(payload, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
  } finally {
    c.close();
  }
}

async function startServer(
  authenticate: Authenticate,
  failureLimiter?: FailureLimiter,
  bindTo = '127.0.0.1:0',
): Promise<string> {
  // As the controller's server: a large server-wide limit, narrowed for the CA service.
  const server = new grpc.Server({
    interceptors: [caRequestLimit()],
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  addCertificateService(server, {
    ca,
    authenticate,
    identitiesAllowed: identitiesAllowedFrom((node) => onNode[node] ?? []),
    log: createLogger('ca-test'),
    onIssued: (e) => issued.push(e.identity),
    ...(failureLimiter ? { failureLimiter } : {}),
  });
  server.addService(ECHO, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
  });
  const serving = await testCredentials(ca, 'ambit-system', 'ambit-controller');
  const creds = grpc.ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.certChainPem) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bindTo, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  return `127.0.0.1:${port}`;
}

function client(
  address: string,
  token: string,
  extra: { nodeName?: string; serverIdentity?: string; rootsPem?: string } = {},
): GrpcCaClient {
  const c = createGrpcCaClient({
    address,
    rootsPem: extra.rootsPem ?? ca.rootsPem,
    token,
    serverIdentity: extra.serverIdentity ?? CONTROLLER,
    ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
  });
  clients.push(c);
  return c;
}

async function csrFor(identity: string): Promise<string> {
  return createCsr(identity, (await generateWorkloadKey()).privateKey);
}

/** createCsr signs with ECDSA/RSA algorithm ids only; an Ed25519 CSR is built here (pure EdDSA, OID 1.3.101.112). */
function ed25519Csr(identity: string, key: KeyObject): string {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const info = sequence(
    integer(0),
    name({}),
    spki,
    explicit(0, sequence(oid(OID.extensionRequest), setOf(sequence(uriSanExtension([identity]))))),
  );
  return toPem(
    'CERTIFICATE REQUEST',
    sequence(info, sequence(oid('1.3.101.112')), bitString(signBytes(null, info, key))),
  );
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
  it("signs for a service account of a pod on the caller's node; the chain verifies to the root", async () => {
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

  it("refuses another node's service account with PERMISSION_DENIED and a clear message", async () => {
    const err = await client(fileAddress, TOKEN_A)
      .sign({ csrPem: await csrFor(HTTPBIN), identity: HTTPBIN, ttlSeconds: 60 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AMBIT_E_CA' });
    expect((err as Error).message).toContain(
      `PERMISSION_DENIED: node node-a may not obtain certificates for ${HTTPBIN}: no pod of that service account is scheduled on node-a`,
    );
    expect((err as { hint?: string }).hint).toMatch(/this node/);
  });

  it('after a CA outage, certificates are issued again within seconds (reconnect back-off is capped)', async () => {
    const auth = nodeTokenFileAuthenticator(join(dir, 'tokens'));
    const address = await startServer(auth);
    const c = client(address, TOKEN_A);
    await c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 });
    servers.pop()!.forceShutdown();
    // 12 s of failed attempts: gRPC's default back-off (up to 120 s) would now wait ~10 s more.
    const outageEnds = Date.now() + 12_000;
    while (Date.now() < outageEnds) {
      await c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
    await startServer(auth, undefined, address);
    // Renewal retries (as the certificate store does): it must succeed within a few seconds.
    const giveUp = Date.now() + 6_000;
    let chain: string | undefined;
    while (!chain && Date.now() < giveUp) {
      chain = await c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 }).then(
        (r) => r.certChainPem,
        () => undefined,
      );
      if (!chain) await new Promise((r) => setTimeout(r, 250));
    }
    expect(chain, 'no certificate within 6 s of the CA coming back').toBeDefined();
    expect(identityOfCertificate(parseCertificates(chain!)[0]!)).toBe(SLEEP);
  }, 40_000);

  it('a waypoint obtains its own identity and nothing else', async () => {
    const wp = client(fileAddress, TOKEN_WP);
    const ok = await wp.sign({ csrPem: await csrFor(WAYPOINT), identity: WAYPOINT, ttlSeconds: 60 });
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(WAYPOINT);
    await expect(wp.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
      `PERMISSION_DENIED: waypoint ${WAYPOINT} may not obtain certificates for ${SLEEP}`,
    );
  });

  it('refuses an unknown token and a call without one (UNAUTHENTICATED)', async () => {
    await expect(
      client(fileAddress, 'not-a-known-token-0123456789').sign({
        csrPem: await csrFor(SLEEP),
        identity: SLEEP,
        ttlSeconds: 60,
      }),
    ).rejects.toThrow(/UNAUTHENTICATED: token refused: unknown token/);
    const Service = certificateService();
    const raw = new Service(
      fileAddress,
      grpc.credentials.createSsl(Buffer.from(ca.rootsPem), null, null, { checkServerIdentity: () => undefined }),
    );
    const status = await new Promise<grpc.ServiceError>((resolve) => {
      (
        raw as unknown as { CreateCertificate: (r: object, cb: (e: grpc.ServiceError) => void) => void }
      ).CreateCertificate({ csr: '' }, resolve);
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
    await expect(
      client(fileAddress, TOKEN_A).sign({ csrPem: tampered, identity: SLEEP, ttlSeconds: 60 }),
    ).rejects.toThrow(/INVALID_ARGUMENT: AMBIT_E_CSR: the CSR signature does not verify/);
  });

  it('the client refuses a server with the wrong identity or an untrusted root', async () => {
    await expect(
      client(fileAddress, TOKEN_A, { serverIdentity: `spiffe://${TD}/ns/x/sa/impostor` }).sign({
        csrPem: await csrFor(SLEEP),
        identity: SLEEP,
        ttlSeconds: 60,
      }),
    ).rejects.toThrow(
      /UNAVAILABLE.*presented spiffe:\/\/cluster.local\/ns\/ambit-system\/sa\/ambit-controller, expected .*impostor/,
    );
    const other = await testCa(TD);
    await expect(
      client(fileAddress, TOKEN_A, { rootsPem: other.rootsPem }).sign({
        csrPem: await csrFor(SLEEP),
        identity: SLEEP,
        ttlSeconds: 60,
      }),
    ).rejects.toThrow(/UNAVAILABLE.*(certificate|verify)/i);
  });

  it('an agent store rotates a 2 s certificate over gRPC', async () => {
    const store = new CertificateStore({ ca: client(fileAddress, TOKEN_A), ttlSeconds: 2 });
    const first = await store.get(SLEEP);
    const rotated = await new Promise<typeof first>((resolve) => store.onRotate(resolve));
    store.close();
    expect(parseCertificates(rotated.certChainPem)[0]!.serialNumber).not.toBe(
      parseCertificates(first.certChainPem)[0]!.serialNumber,
    );
  });
});

describe('CA service (TokenReview, node verified from the bound pod)', () => {
  const AGENT = 'system:serviceaccount:ambit-system:ambit-agent';
  const aud = ['ambit-ca'];
  const boundTo = (pod: string, uid: string, node?: string): Record<string, string[]> => ({
    'authentication.kubernetes.io/pod-name': [pod],
    'authentication.kubernetes.io/pod-uid': [uid],
    ...(node ? { 'authentication.kubernetes.io/node-name': [node] } : {}),
  });
  const reviews: Record<string, TokenReviewResult> = {
    'agent-a-token': {
      authenticated: true,
      username: AGENT,
      audiences: aud,
      extra: boundTo('ambit-agent-aaaaa', 'uid-agent-a', 'node-a'),
    },
    'agent-b-token': {
      authenticated: true,
      username: AGENT,
      audiences: aud,
      extra: boundTo('ambit-agent-bbbbb', 'uid-agent-b'),
    },
    'agent-unbound-token': { authenticated: true, username: AGENT, audiences: aud },
    'agent-default-audience-token': {
      authenticated: true,
      username: AGENT,
      audiences: [],
      extra: boundTo('ambit-agent-aaaaa', 'uid-agent-a', 'node-a'),
    },
    'agent-lying-node-token': {
      authenticated: true,
      username: AGENT,
      audiences: aud,
      extra: boundTo('ambit-agent-aaaaa', 'uid-agent-a', 'node-b'),
    },
    'waypoint-token': { authenticated: true, username: 'system:serviceaccount:default:waypoint', audiences: aud },
    'user-token': { authenticated: true, username: 'kubernetes-admin', audiences: aud },
  };
  const pods: Record<string, { uid: string; nodeName?: string; serviceAccount?: string }> = {
    'ambit-system/ambit-agent-aaaaa': { uid: 'uid-agent-a', nodeName: 'node-a', serviceAccount: 'ambit-agent' },
    'ambit-system/ambit-agent-bbbbb': { uid: 'uid-agent-b', nodeName: 'node-b', serviceAccount: 'ambit-agent' },
  };
  const lookup: BoundObjectLookup = { pod: async (ns, name) => pods[`${ns}/${name}`], node: async () => undefined };
  let address: string;
  beforeAll(async () => {
    address = await startServer(
      tokenReviewAuthenticator({
        trustDomain: TD,
        lookup,
        reviewToken: async (t) => reviews[t] ?? { authenticated: false, error: 'token expired' },
      }),
    );
  });
  const ask = (token: string, identity: string, nodeName?: string): Promise<unknown> =>
    csrFor(identity).then((csrPem) =>
      client(address, token, nodeName ? { nodeName } : {}).sign({ csrPem, identity, ttlSeconds: 60 }),
    );

  it("an agent gets the identities of its pod's node, whatever node it names", async () => {
    const ok = (await ask('agent-a-token', SLEEP)) as { certChainPem: string };
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(SLEEP);
    expect(await ask('agent-b-token', HTTPBIN)).toMatchObject({
      certChainPem: expect.stringContaining('BEGIN CERTIFICATE'),
    });
    // Claiming node-b in metadata changes nothing: node-a's token gets node-a's identities only.
    await expect(ask('agent-a-token', HTTPBIN, 'node-b')).rejects.toThrow(
      `PERMISSION_DENIED: node node-a may not obtain certificates for ${HTTPBIN}`,
    );
  });

  it("refuses a token claiming another node than its pod's", async () => {
    await expect(ask('agent-lying-node-token', SLEEP)).rejects.toThrow(
      /UNAUTHENTICATED: token refused: .*the token names node node-b, but pod ambit-system\/ambit-agent-aaaaa runs on node-a/,
    );
  });

  it('refuses an unbound agent token and a token of another audience', async () => {
    await expect(ask('agent-unbound-token', SLEEP, 'node-a')).rejects.toThrow(
      /UNAUTHENTICATED: token refused: agent ambit-system\/ambit-agent: the token is not bound to a pod or a node/,
    );
    await expect(ask('agent-default-audience-token', SLEEP)).rejects.toThrow(
      /UNAUTHENTICATED: token refused: the token is not for audience ambit-ca/,
    );
  });

  it('another service account obtains only its own identity; bad tokens and users are refused', async () => {
    const ok = (await ask('waypoint-token', WAYPOINT)) as { certChainPem: string };
    expect(identityOfCertificate(parseCertificates(ok.certChainPem)[0]!)).toBe(WAYPOINT);
    await expect(ask('waypoint-token', SLEEP)).rejects.toThrow(
      `PERMISSION_DENIED: waypoint ${WAYPOINT} may not obtain certificates for ${SLEEP}: a waypoint obtains only its own identity`,
    );
    await expect(ask('user-token', SLEEP)).rejects.toThrow(/"kubernetes-admin" is not a service account/);
    await expect(ask('expired', SLEEP)).rejects.toThrow(/did not authenticate the token: token expired/);
  });
});

describe('CA service bounds', () => {
  it('refuses a request over 1 MiB before reading it, while other services on the server keep their limit', async () => {
    const big = `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(1536 * 1024)}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(client(fileAddress, TOKEN_A).sign({ csrPem: big, identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
      /RESOURCE_EXHAUSTED: .*larger than max/,
    );
    const echoed = await echo(fileAddress, Buffer.alloc(1536 * 1024, 1));
    expect(echoed.length).toBe(1536 * 1024);
  });

  it("narrows a call's limit only where grpc-js exposes it", () => {
    const call = { maxReceiveMessageSize: 64 * 1024 * 1024, decoder: { maxReadMessageLength: 64 * 1024 * 1024 } };
    expect(narrowReceiveLimit(call as never, 1024)).toBe(true);
    expect(call).toEqual({ maxReceiveMessageSize: 1024, decoder: { maxReadMessageLength: 1024 } });
    const unlimited = { maxReceiveMessageSize: -1, decoder: { maxReadMessageLength: -1 } };
    expect(narrowReceiveLimit(unlimited as never, 1024)).toBe(true);
    expect(unlimited.maxReceiveMessageSize).toBe(1024);
    expect(narrowReceiveLimit({} as never, 1024)).toBe(false);
  });

  it('refuses an oversized CSR under the message limit with INVALID_ARGUMENT', async () => {
    const big = `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(64 * 1024)}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(client(fileAddress, TOKEN_A).sign({ csrPem: big, identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
      /INVALID_ARGUMENT: AMBIT_E_CSR: the CSR is \d+ bytes; at most 16384/,
    );
  });

  it.each([
    [
      'ECDSA P-384',
      () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey,
      /ECDSA on curve secp384r1; only P-256/,
    ],
    [
      'RSA 1024',
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
      /RSA with 1024 bits; RSA keys must have 2048 to 4096 bits/,
    ],
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey, /key type ed25519 is not accepted/],
  ])('refuses a CSR with an %s key', async (_name, key, message) => {
    const k = key();
    const csrPem = k.asymmetricKeyType === 'ed25519' ? ed25519Csr(SLEEP, k) : createCsr(SLEEP, k);
    await expect(client(fileAddress, TOKEN_A).sign({ csrPem, identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
      message,
    );
  });

  it('signs a CSR with an RSA 2048 key', async () => {
    const csrPem = createCsr(SLEEP, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    expect(
      (await client(fileAddress, TOKEN_A).sign({ csrPem, identity: SLEEP, ttlSeconds: 60 })).certChainPem,
    ).toContain('BEGIN CERTIFICATE');
  });

  it('answers UNAVAILABLE, not counted as a failure, when the token cannot be checked now', async () => {
    const down = await startServer(
      async () => {
        throw new AmbitError('AMBIT_E_CA', 'TokenReview failed: connect ECONNREFUSED', { hint: 'RBAC' });
      },
      new FailureLimiter({ burst: 1, perSecond: 0.01 }),
    );
    const c = client(down, 'some-token-0123456789abcdef');
    for (let i = 0; i < 3; i++) {
      await expect(c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
        /UNAVAILABLE: cannot check the token now: AMBIT_E_CA: TokenReview failed/,
      );
    }
  });

  it('refuses a peer that keeps failing authentication for a while, without asking the authenticator', async () => {
    let asked = 0;
    const limited = await startServer(
      async () => {
        asked++;
        throw new Error('unknown token');
      },
      new FailureLimiter({ burst: 3, perSecond: 0.5 }),
    );
    const c = client(limited, 'wrong-token-0123456789abcdef');
    for (let i = 0; i < 3; i++)
      await expect(c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
        /UNAUTHENTICATED/,
      );
    await expect(c.sign({ csrPem: await csrFor(SLEEP), identity: SLEEP, ttlSeconds: 60 })).rejects.toThrow(
      /RESOURCE_EXHAUSTED: too many failed authentications from 127.0.0.1; retry in 2 s/,
    );
    expect(asked).toBe(3);
  });
});

describe('gRPC CA client options', () => {
  it('refuses to start without a token, roots or address', () => {
    expect(() => createGrpcCaClient({ address: '127.0.0.1:1', rootsPem: ca.rootsPem } as never)).toThrow(/no token/);
    expect(() => createGrpcCaClient({ address: '127.0.0.1:1', rootsPem: '', token: 'x' })).toThrow(
      /rootsPem holds no PEM/,
    );
    expect(() => createGrpcCaClient({ address: '', rootsPem: ca.rootsPem, token: 'x' })).toThrow(
      /no controller address/,
    );
  });
});
