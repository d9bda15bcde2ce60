// Fixtures of the gateway tests. Certificates, made by openssl: one CA, server certificates for DNS
// names, client certificates, each written as a credential folder (tls.crt, tls.key, ca.crt)
// as `credentialName` reads them in file and local mode.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  /** A credential folder `<dir>/<name>/` with tls.crt and tls.key (and ca.crt when `withCa`). */
  credential(name: string, dnsNames: readonly string[], opts?: { withCa?: boolean }): { cert: string; key: string };
  /** A client certificate signed by the CA. */
  client(cn: string): { cert: string; key: string };
}

function run(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    ['req', '-x509', ...ecKey, '-days', '2', '-subj', '/CN=ambit-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt'],
    dir,
  );
  const caCert = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  let serial = 1;
  const issue = (base: string, subject: string, ext: string): { cert: string; key: string } => {
    writeFileSync(path.join(dir, `${base}.ext`), ext);
    run(['req', ...ecKey, '-subj', subject, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
    run(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(serial++),
        '-days',
        '2',
        '-extfile',
        `${base}.ext`,
        '-out',
        `${base}.crt`,
      ],
      dir,
    );
    return {
      cert: readFileSync(path.join(dir, `${base}.crt`), 'utf8'),
      key: readFileSync(path.join(dir, `${base}.key`), 'utf8'),
    };
  };
  return {
    dir,
    caCert,
    credential(name, dnsNames, opts = {}) {
      const made = issue(
        `server-${name}`,
        `/CN=${dnsNames[0] ?? name}`,
        `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
      );
      const folder = path.join(dir, name);
      mkdirSync(folder, { recursive: true });
      writeFileSync(path.join(folder, 'tls.crt'), made.cert);
      writeFileSync(path.join(folder, 'tls.key'), made.key);
      if (opts.withCa) writeFileSync(path.join(folder, 'ca.crt'), caCert);
      return made;
    },
    client(cn) {
      return issue(`client-${cn}`, `/CN=${cn}`, 'extendedKeyUsage=clientAuth\n');
    },
  };
}

/** The first bytes a TLS client sends for `servername` (undefined = no SNI extension). */
export async function captureClientHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const head = Buffer.concat(chunks);
        if (head.length >= 5 && head.length >= 5 + head.readUInt16BE(3)) {
          s.destroy();
          server.close();
          resolve(head);
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const c = tls.connect({
        host: '127.0.0.1',
        port,
        ...(servername ? { servername } : {}),
        rejectUnauthorized: false,
      });
      c.on('error', () => undefined);
    });
    server.on('error', reject);
  });
}
