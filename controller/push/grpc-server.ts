// The controller's gRPC server (15012): TLS with a serving certificate issued by the
// controller's own CA for spiffe://<td>/ns/ambit-system/sa/ambit-controller. Discovery and
// the CA service register on the same server.
import * as grpc from '@grpc/grpc-js';
import type { Credentials } from '../../core/identity/types.js';
import { AmbitError } from '../../core/errors.js';

export const CONTROLLER_NAMESPACE = 'ambit-system';
export const CONTROLLER_SERVICE_ACCOUNT = 'ambit-controller';

export interface ControllerGrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startGrpcServer(opts: {
  credentials: Credentials;
  host?: string;
  port: number;
  register: ReadonlyArray<(server: grpc.Server) => void>;
}): Promise<ControllerGrpcServer> {
  const server = new grpc.Server({ 'grpc.keepalive_time_ms': 60_000, 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  for (const r of opts.register) r(server);
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(opts.credentials.keyPem), cert_chain: Buffer.from(opts.credentials.certChainPem) }], false);
  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, creds, (err, p) => (err ? reject(new AmbitError('AMBIT_E_XDS', `cannot listen on ${host}:${opts.port}: ${err.message}`, { hint: 'is another controller running? use --grpc-port' })) : resolve(p)));
  });
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), 2000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}
