import { describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import { testCa } from '../../test/support/pki.js';
import { waitFor } from '../../test/support/wait.js';
import { startGrpcServer } from './grpc-server.js';

function servedSerial(port: number, rootsPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port,
        ca: rootsPem,
        ALPNProtocols: ['h2'],
        servername: 'ambit-controller',
        checkServerIdentity: () => undefined,
      },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(serial);
      },
    );
    s.on('error', reject);
  });
}

describe('controller gRPC server', () => {
  it('renews its serving certificate at half-life without restarting', async () => {
    const ca = await testCa();
    const id = spiffeIdFor(ca.trustDomain, 'ambit-system', 'ambit-controller');
    let issued = 0;
    const issue = async () => {
      issued++;
      return ca.issue(id, { ttlSeconds: 4 });
    };
    const srv = await startGrpcServer({
      credentials: await issue(),
      renew: issue,
      host: '127.0.0.1',
      port: 0,
      register: [],
    });
    try {
      const first = await servedSerial(srv.port, ca.rootsPem);
      const firstPem = srv.credentials.certChainPem;
      // Renewed once the new certificate is in use (not merely asked for: issuing is async).
      await waitFor(() => issued >= 2 && srv.credentials.certChainPem !== firstPem, 'renewal', 10_000);
      // the next handshake gets the renewed certificate
      const second = await servedSerial(srv.port, ca.rootsPem);
      expect(second).not.toBe(first);
      expect(second).toBe(new (await import('node:crypto')).X509Certificate(srv.credentials.certChainPem).serialNumber);
      expect(srv.credentials.notAfter.getTime()).toBeGreaterThan(Date.now());
    } finally {
      await srv.close();
    }
  });
});
