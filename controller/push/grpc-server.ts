// The controller's gRPC server (15012): TLS with a serving certificate issued by the
// controller's own CA for spiffe://<td>/ns/ambit-system/sa/ambit-controller, renewed at
// half-life without a restart. Discovery and the CA service register on the same server.
import * as grpc from '@grpc/grpc-js';
import type { Credentials } from '../../core/identity/types.js';
import { AmbitError, describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { caRequestLimit } from '../ca/message-limit.js';

export const CONTROLLER_NAMESPACE = 'ambit-system';
export const CONTROLLER_SERVICE_ACCOUNT = 'ambit-controller';

type IdentityListener = (u: { certificate: Buffer; privateKey: Buffer } | null) => void;
type CaListener = (u: { caCertificate: Buffer } | null) => void;

/** Hands grpc-js the current serving certificate, and a new one when it is renewed. */
class RenewableCertificate {
  private readonly identity = new Set<IdentityListener>();
  private readonly ca = new Set<CaListener>();
  constructor(private creds: Credentials) {}
  get current(): Credentials {
    return this.creds;
  }
  update(creds: Credentials): void {
    this.creds = creds;
    for (const l of this.identity) l(this.identityUpdate());
    for (const l of this.ca) l({ caCertificate: Buffer.from(creds.rootsPem) });
  }
  private identityUpdate() {
    return { certificate: Buffer.from(this.creds.certChainPem), privateKey: Buffer.from(this.creds.keyPem) };
  }
  // grpc-js registers its watcher only after adding these listeners: answer on the next tick.
  addIdentityCertificateListener(l: IdentityListener): void {
    this.identity.add(l);
    setImmediate(() => this.identity.has(l) && l(this.identityUpdate()));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identity.delete(l);
  }
  addCaCertificateListener(l: CaListener): void {
    this.ca.add(l);
    setImmediate(() => this.ca.has(l) && l({ caCertificate: Buffer.from(this.creds.rootsPem) }));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.ca.delete(l);
  }
}

export interface ControllerGrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  /** The serving certificate in use now. */
  readonly credentials: Credentials;
  close(): Promise<void>;
}

export async function startGrpcServer(opts: {
  credentials: Credentials;
  /** Issues a fresh serving certificate; called at half of the current one's lifetime. */
  renew?: () => Promise<Credentials>;
  host?: string;
  port: number;
  register: ReadonlyArray<(server: grpc.Server) => void>;
  log?: Logger;
}): Promise<ControllerGrpcServer> {
  // Discovery requests may be large (an agent reconnecting lists what it holds); the CA
  // service reads at most 1 MiB before it authenticates the caller (see ca/message-limit.ts).
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 60_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    interceptors: [caRequestLimit()],
  });
  for (const r of opts.register) r(server);
  const cert = new RenewableCertificate(opts.credentials);
  // The same object serves as identity and CA provider (client certificates are asked for
  // but not required: clients authenticate with tokens).
  const creds = grpc.experimental.createCertificateProviderServerCredentials(cert, cert, false);
  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, creds, (err, p) =>
      err
        ? reject(
            new AmbitError('AMBIT_E_XDS', `cannot listen on ${host}:${opts.port}: ${err.message}`, {
              hint: 'is another controller running? use --grpc-port',
            }),
          )
        : resolve(p),
    );
  });
  // The certificate reaches grpc-js on the next tick (see RenewableCertificate): do not
  // report the server started before a handshake can succeed.
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (!opts.renew) return;
    const c = cert.current;
    const halfLife = Math.max(
      1000,
      (c.notAfter.getTime() - c.notBefore.getTime()) / 2 - (Date.now() - c.notBefore.getTime()),
    );
    timer = setTimeout(
      () => {
        opts.renew!()
          .then(
            (next) => {
              cert.update(next);
              opts.log?.info('serving certificate renewed', { notAfter: next.notAfter.toISOString() });
            },
            (err: unknown) =>
              opts.log?.error('serving certificate renewal failed; retrying', { err: describeError(err) }),
          )
          .finally(schedule);
      },
      Math.min(halfLife, 2 ** 31 - 1),
    );
    timer.unref();
  };
  schedule();
  return {
    server,
    port,
    get credentials() {
      return cert.current;
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
