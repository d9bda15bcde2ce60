// The `nginx-mtls` peer case: what L7 with mutual TLS on both sides costs a native proxy.
// client (wrk) → HAProxy in the client pod (mode tcp, originates mutual TLS, as the client's
// agent does in the mesh) → nginx in the proxy pod (terminates mutual TLS, client
// certificate required and verified, routes at L7, originates mutual TLS with its own client
// certificate, server certificate verified; keep-alive on both sides) → nginx server pod
// (terminates mutual TLS, client certificate required). TLS 1.3 with TLS_AES_128_GCM_SHA256
// everywhere (as HBONE offers first). Certificates: ECDSA P-256, made with the openssl CLI
// because nginx verifies the server's name (a DNS SAN) and SPIFFE certificates carry URIs only.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, ChildGroup } from '../common/children.js';
import type { Pod } from '../common/cni-pods.js';
import { inNetns } from './tools.js';

export const MTLS_PORT = 8443;
/** Where HAProxy listens in the client pod (plain HTTP in). */
export const MTLS_ENTRY_PORT = 18080;
export const SERVER_NAME = 'server.bench-plain.svc.cluster.local';
export const PROXY_NAME = 'nginx-proxy.bench-plain.svc.cluster.local';

export interface MtlsFiles {
  readonly ca: string;
  readonly server: string;
  readonly proxy: string;
  readonly client: string;
}

/** A CA and three leaf certificates (cert + key in one PEM file each). */
export function makeMtlsCertificates(dir: string): MtlsFiles {
  mkdirSync(dir, { recursive: true });
  const ossl = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  const ecKey = (path: string): void =>
    ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  ecKey(caKey);
  ossl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=bench-ca', '-days', '2', '-out', ca]);
  const leaf = (name: string, dns: string): string => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const crt = join(dir, `${name}.crt`);
    const ext = join(dir, `${name}.ext`);
    ecKey(key);
    ossl(['req', '-new', '-key', key, '-subj', `/CN=${dns}`, '-out', csr]);
    writeFileSync(ext, `subjectAltName=DNS:${dns}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    ossl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      crt,
    ]);
    const pem = join(dir, `${name}.pem`);
    execFileSync('sh', ['-c', `cat "${crt}" "${key}" > "${pem}"`]);
    return pem;
  };
  return {
    ca,
    server: leaf('server', SERVER_NAME),
    proxy: leaf('proxy', PROXY_NAME),
    client: leaf('client', 'client.bench-plain.svc.cluster.local'),
  };
}

const TLS = (pem: string, ca: string): string => `ssl_certificate ${pem};
    ssl_certificate_key ${pem};
    ssl_client_certificate ${ca};
    ssl_verify_client on;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
    ssl_session_cache shared:SSL:1m;`;

/** The server pod's extra nginx server block: mutual TLS on MTLS_PORT, the same 3-byte answer. */
export function serverTlsBlock(f: MtlsFiles): string {
  return `  server {
    listen ${MTLS_PORT} ssl backlog=4096;
    ${TLS(f.server, f.ca)}
    location / { return 200 "ok\\n"; }
  }
`;
}

/** nginx as the L7 proxy with mutual TLS on both sides (in the proxy pod, its own process). */
export function proxyMtlsConfig(common: string, f: MtlsFiles, upstream: string): string {
  return (
    common +
    `  upstream backend_tls {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen ${MTLS_PORT} ssl backlog=4096;
    ${TLS(f.proxy, f.ca)}
    location / {
      proxy_pass https://backend_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${f.client};
      proxy_ssl_certificate_key ${f.client};
      proxy_ssl_trusted_certificate ${f.ca};
      proxy_ssl_verify on;
      proxy_ssl_name ${SERVER_NAME};
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
      proxy_ssl_session_reuse on;
    }
  }
}
`
  );
}

/** HAProxy in the client pod: plain TCP in on 127.0.0.1:MTLS_ENTRY_PORT, mutual TLS out to the proxy. */
export async function startClientTls(
  group: ChildGroup,
  client: Pod,
  dir: string,
  f: MtlsFiles,
  proxyIp: string,
): Promise<Child> {
  const cfg = join(dir, 'haproxy-client.cfg');
  writeFileSync(
    cfg,
    `global
  maxconn 8000
  tune.bufsize 65536
  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend in
  bind 127.0.0.1:${MTLS_ENTRY_PORT}
  default_backend tls
backend tls
  server proxy ${proxyIp}:${MTLS_PORT} ssl crt ${f.client} ca-file ${f.ca} verify required verifyhost ${PROXY_NAME} sni str(${PROXY_NAME})
`,
  );
  // -db: foreground, no master-worker: the pid is the proxy itself.
  const child = await group.start(...inNetns(client.netns, 'haproxy', ['-db', '-f', cfg]), {
    name: 'haproxy-client-tls',
  });
  await new Promise((r) => setTimeout(r, 500));
  if (child.process.exitCode !== null)
    throw new Error(`haproxy in ${client.netns} exited: ${child.stderr.join(' | ')}`);
  return child;
}
