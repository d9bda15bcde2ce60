// Helper process: the destination servers of the benchmark, apart from iperf3.
//   echo     TCP, echoes every byte (request/response and new-connection tests)
//   tlsEcho  the same behind Node TLS 1.3 with client certificates (node-tls case)
//   tlsSink  Node TLS 1.3 mTLS, discards what it reads, ends when the client ends (node-tls bulk)
// Usage: node target.js <credentials.json>; prints "READY {json ports}"; stops on SIGTERM.
import { createServer as createTcpServer, type Socket } from 'node:net';
import { listenLoopback } from '../common/net.js';
import { createServer as createTlsServer } from 'node:tls';
import { loadCredentialsFile } from './pki.js';
import { tlsServerOptions } from './tls-options.js';

function echo(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
}

function sink(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  socket.on('data', () => {
    /* discard */
  });
  socket.on('end', () => socket.end());
}

async function main(): Promise<void> {
  const credsFile = process.argv[2];
  if (!credsFile) throw new Error('usage: target.js <credentials.json>');
  const { server: creds } = loadCredentialsFile(credsFile);
  const servers = [
    createTcpServer(echo),
    createTlsServer(tlsServerOptions(creds), echo),
    createTlsServer(tlsServerOptions(creds), sink),
  ];
  for (const s of servers)
    s.on('tlsClientError', () => {
      /* a refused handshake is not our concern here */
    });
  const [echoPort, tlsEchoPort, tlsSinkPort] = await Promise.all(servers.map(listenLoopback));
  process.stdout.write(`READY ${JSON.stringify({ echo: echoPort, tlsEcho: tlsEchoPort, tlsSink: tlsSinkPort })}\n`);
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`target: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
