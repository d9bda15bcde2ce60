// A server outside the mesh (`ambitctl local up` runs it in a network namespace of its own at
// the address of its Pod's `ambit.dev/outside-mesh-address`). Plain HTTP on HTTP_PORT (80);
// with TLS_CERT/TLS_KEY (a CA that is not the mesh's, written by local up), HTTPS only on
// TLS_PORT (443). Each answer says what the server saw on the wire (the client's address, TLS
// or not, SNI, ALPN, client certificate); each TLS handshake, and each failed one, is logged as a JSON line.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const HTTP_PORT = Number(process.env.HTTP_PORT ?? 80);
const TLS_PORT = Number(process.env.TLS_PORT ?? 443);
const log = (fields) => console.log(JSON.stringify({ time: new Date().toISOString(), ...fields }));

const clientSans = (socket) => {
  const cert = socket.getPeerCertificate?.();
  return cert && cert.subjectaltname ? cert.subjectaltname.split(/,\s*/) : [];
};

function answer(req, res, tls) {
  const body = JSON.stringify({
    service: 'external-api',
    path: req.url,
    host: req.headers.host ?? null,
    client: req.socket.remoteAddress ?? null,
    tls,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

http
  .createServer((req, res) => answer(req, res, null))
  .listen(HTTP_PORT, () => log({ event: 'listening', protocol: 'http', port: HTTP_PORT }));

if (process.env.TLS_CERT && process.env.TLS_KEY) {
  const server = https.createServer(
    {
      cert: readFileSync(process.env.TLS_CERT),
      key: readFileSync(process.env.TLS_KEY),
      ...(process.env.TLS_CA ? { ca: readFileSync(process.env.TLS_CA) } : {}),
      // A client certificate is asked for and reported, not required (SIMPLE and MUTUAL both pass).
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    },
    (req, res) =>
      answer(req, res, {
        sni: req.socket.servername || null,
        alpn: req.socket.alpnProtocol || null,
        clientAuthorized: req.socket.authorized,
        clientSans: clientSans(req.socket),
      }),
  );
  server.on('secureConnection', (s) =>
    log({ event: 'tls', sni: s.servername || null, alpn: s.alpnProtocol || null, clientSans: clientSans(s) }),
  );
  server.on('tlsClientError', (err) => log({ event: 'tls-error', reason: err.code ?? err.message }));
  server.listen(TLS_PORT, () => log({ event: 'listening', protocol: 'https', port: TLS_PORT }));
}
