// The coffee-shop's services: one small HTTP server, parameterised by environment.
//   SERVICE_NAME, SERVICE_VERSION (v1), PORT (8080), POD_NAME
//   CALLS: comma-separated URLs this service calls for GET /order (e.g.
//          http://payment-service:8080/pay,http://inventory-service:8080/stock)
//   FAIL_PERCENT: answer 503 to that share of requests (to show retries and outlier detection)
//   DELAY_MS: wait before answering (to show timeouts)
// Every answer is JSON: who answered, which version, and who called (the mesh's identity
// header when a waypoint adds one, else the client address).
import http from 'node:http';

const name = process.env.SERVICE_NAME ?? 'service';
const version = process.env.SERVICE_VERSION ?? 'v1';
const port = Number(process.env.PORT ?? 8080);
const pod = process.env.POD_NAME ?? name;
const calls = (process.env.CALLS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const failPercent = Number(process.env.FAIL_PERCENT ?? 0);
const delayMs = Number(process.env.DELAY_MS ?? 0);

function callerOf(req) {
  const xfcc = req.headers['x-forwarded-client-cert'];
  const match = typeof xfcc === 'string' ? (/By=[^;]*;.*?URI=([^;,]+)/.exec(xfcc) ?? /URI=([^;,]+)/.exec(xfcc)) : null;
  return { identity: match ? match[1] : undefined, address: `${req.socket.remoteAddress}:${req.socket.remotePort}` };
}

async function callDownstream(url, traceHeaders) {
  const started = Date.now();
  try {
    const res = await fetch(url, { headers: traceHeaders, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text.slice(0, 200);
    }
    return { url, status: res.status, ms: Date.now() - started, body };
  } catch (err) {
    return { url, status: 0, ms: Date.now() - started, error: err.cause?.code ?? err.message };
  }
}

const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  const reply = {
    service: name,
    version,
    pod,
    method: req.method,
    path: req.url,
    caller: callerOf(req),
    headers: req.headers,
  };
  if (failPercent > 0 && Math.random() * 100 < failPercent) {
    res.writeHead(503, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ ...reply, error: 'injected failure' }));
  }
  if (req.url?.startsWith('/order') && calls.length > 0) {
    const trace = {};
    for (const h of ['traceparent', 'tracestate', 'x-request-id', 'user-agent'])
      if (req.headers[h]) trace[h] = req.headers[h];
    reply.calls = await Promise.all(calls.map((url) => callDownstream(url, trace)));
    const failed = reply.calls.some((c) => c.status === 0 || c.status >= 500);
    res.writeHead(failed ? 502 : 200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(reply));
  }
  res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': `${name}-${version}` });
  res.end(JSON.stringify(reply));
});

server.keepAliveTimeout = 65_000;
server.listen(port, () =>
  console.log(JSON.stringify({ level: 'info', msg: 'listening', service: name, version, port })),
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
