// credentialName in kube mode: the Secret of the gateway's namespace, read with the pod's
// token from the API server (TLS checked against the service-account CA); both of Istio's
// key layouts; a missing Secret is "not found", a refusal is an error naming the Secret.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { makePki } from '../../test/e2e/ingress-pki.js';
import { kubeSecretCredentials } from './kube-secrets.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
let dir: string;
let server: https.Server;
let url: string;
const seen: Array<{ path: string; auth: string | undefined }> = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ambit-kube-secrets-'));
  const pki = makePki(path.join(dir, 'pki'));
  const api = pki.credential('api', ['localhost']);
  writeFileSync(path.join(dir, 'token'), 'the-token\n');
  writeFileSync(path.join(dir, 'ca.crt'), pki.caCert);
  server = https.createServer({ cert: api.cert, key: api.key }, (req, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization });
    const secrets: Record<string, Record<string, string>> = {
      '/api/v1/namespaces/gw/secrets/shop-cert': { 'tls.crt': b64('CERT'), 'tls.key': b64('KEY'), 'ca.crt': b64('CA') },
      '/api/v1/namespaces/gw/secrets/generic': { cert: b64('C2'), key: b64('K2'), cacert: b64('CA2') },
    };
    if (req.url === '/api/v1/namespaces/gw/secrets/forbidden') {
      res.writeHead(403).end('{}');
      return;
    }
    const data = secrets[req.url ?? ''];
    if (!data) {
      res.writeHead(404).end('{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Secret', data }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://localhost:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('kube Secret credentials', () => {
  const reader = () =>
    kubeSecretCredentials({ namespace: 'gw', log: createLogger('test'), apiServer: url, serviceAccountDir: dir });

  it('reads tls.crt/tls.key/ca.crt and cert/key/cacert, with the pod token', async () => {
    expect(await reader()('shop-cert')).toEqual({ cert: 'CERT', key: 'KEY', ca: 'CA' });
    expect(await reader()('generic')).toEqual({ cert: 'C2', key: 'K2', ca: 'CA2' });
    expect(seen.every((s) => s.auth === 'Bearer the-token')).toBe(true);
  });

  it('a missing Secret is not found; a refusal names the Secret; a name that is not one is never asked for', async () => {
    expect(await reader()('nope')).toBeUndefined();
    await expect(reader()('forbidden')).rejects.toThrow(/Secret gw\/forbidden: API server answered 403/);
    const before = seen.length;
    expect(await reader()('../../etc/passwd')).toBeUndefined();
    expect(seen.length).toBe(before);
  });
});
