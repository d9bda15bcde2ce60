// Server certificates of HTTPS/TLS gateway servers. `credentialName` names Istio's Secret
// layout (`tls.crt`, `tls.key`, and `ca.crt` for MUTUAL, or a `<name>-cacert` credential
// holding `ca.crt`); a reader turns a name into that material: files under a folder in file
// and `local` mode (one folder per credential), the Kubernetes Secret in kube mode.
// `serverCertificate`/`privateKey`/`caCertificates` are file paths, as in Istio. Material
// is re-read on each config change and every refresh interval; a server whose material
// cannot be read refuses its handshakes and the gateway keeps serving the others.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { GatewayServer } from '../../core/model/l7.js';

export interface CredentialMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/** A credential by name; undefined = no such credential. */
export type CredentialReader = (name: string) => Promise<Partial<CredentialMaterial> | undefined>;

/** Each credential is a folder `<dir>/<name>/` with tls.crt, tls.key and optionally ca.crt. */
export function folderCredentials(dir: string): CredentialReader {
  const read = (file: string): Promise<string | undefined> =>
    readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  return async (name) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) return undefined; // a name, never a path
    const base = path.join(dir, name);
    const [cert, key, ca] = await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map((f) => read(path.join(base, f))));
    if (cert === undefined && key === undefined && ca === undefined) return undefined;
    return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
  };
}

export interface ServerTls {
  readonly context: tls.SecureContext;
  /** MUTUAL: the client must present a certificate signed by `ca`. */
  readonly mutual: boolean;
}

/** The identity of a server's material: servers naming the same files share one context. */
export function credentialKey(server: GatewayServer): string {
  const t = server.tls;
  return JSON.stringify([t?.mode, t?.credentialName, t?.serverCertificate, t?.privateKey, t?.caCertificates]);
}

export class GatewayCredentials {
  private contexts = new Map<string, ServerTls>();
  private readonly failures = new Map<string, string>();
  private servers: readonly GatewayServer[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: { reader: CredentialReader; log: Logger; refreshMs?: number; alpn?: readonly string[] },
  ) {
    const every = o.refreshMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.load(this.servers), every);
      this.timer.unref();
    }
  }

  /** The context of a terminating server, once loaded; undefined while loading or when the material is bad. */
  get(server: GatewayServer): ServerTls | undefined {
    return this.contexts.get(credentialKey(server));
  }

  /** Why a server has no context (for logs), if it failed. */
  problem(server: GatewayServer): string | undefined {
    return this.failures.get(credentialKey(server));
  }

  /** Loads the material of every terminating server; resolves when done (each failure is logged). */
  async load(servers: readonly GatewayServer[]): Promise<void> {
    this.servers = servers;
    const wanted = servers.filter(
      (s) =>
        (s.protocol === 'HTTPS' || s.protocol === 'TLS') &&
        s.tls &&
        s.tls.mode !== 'PASSTHROUGH' &&
        s.tls.mode !== 'AUTO_PASSTHROUGH',
    );
    const next = new Map<string, ServerTls>();
    await Promise.all(
      wanted.map(async (s) => {
        const key = credentialKey(s);
        if (next.has(key)) return;
        try {
          next.set(key, await this.build(s));
          this.failures.delete(key);
        } catch (err) {
          const why = describeError(err);
          const old = this.contexts.get(key);
          if (old) next.set(key, old); // keep the last good material
          if (this.failures.get(key) !== why)
            this.o.log.error('gateway server credential not loaded', {
              credential: s.tls?.credentialName ?? s.tls?.serverCertificate,
              port: s.port,
              err: why,
            });
          this.failures.set(key, why);
        }
      }),
    );
    this.contexts = next;
  }

  private async build(server: GatewayServer): Promise<ServerTls> {
    const t = server.tls!;
    const mutual = t.mode === 'MUTUAL' || t.mode === 'OPTIONAL_MUTUAL';
    let material: Partial<CredentialMaterial>;
    if (t.credentialName) {
      const found = await this.o.reader(t.credentialName);
      if (!found) throw new Error(`credential ${t.credentialName} not found`);
      material = found;
      if (mutual && !material.ca) {
        const cacert = await this.o.reader(`${t.credentialName}-cacert`);
        if (cacert?.ca) material = { ...material, ca: cacert.ca };
      }
    } else {
      const [cert, key, ca] = await Promise.all(
        [t.serverCertificate, t.privateKey, t.caCertificates].map((f) => (f ? readFile(f, 'utf8') : undefined)),
      );
      material = { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
    }
    if (!material.cert || !material.key) throw new Error('certificate and private key are required (tls.crt, tls.key)');
    if (mutual && !material.ca) throw new Error('MUTUAL needs the client CA (ca.crt)');
    const context = tls.createSecureContext({
      cert: material.cert,
      key: material.key,
      ...(mutual ? { ca: material.ca } : {}),
      minVersion: 'TLSv1.2',
    });
    return { context, mutual };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
