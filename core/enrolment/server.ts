// The agent side of the enrolment protocol: a Unix-socket server that turns each request
// line into one EnrolmentHandler call and answers with one response line, in order.
// A malformed line gets an error response and closes that connection only.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { AmbitError, describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { LineSplitter } from './lines.js';
import {
  encodeLine,
  MalformedMessageError,
  MAX_LINE_BYTES,
  parseRequest,
  RetryLater,
  type EnrolmentHandler,
  type EnrolmentRequest,
  type EnrolmentResponse,
} from './protocol.js';

export interface EnrolmentServerOptions {
  log?: Logger;
  /** A connection idle this long is closed (default 60 s). */
  idleTimeoutMs?: number;
}

export interface EnrolmentServer {
  close(): Promise<void>;
}

export async function startEnrolmentServer(
  socketPath: string,
  handler: EnrolmentHandler,
  opts: EnrolmentServerOptions = {},
): Promise<EnrolmentServer> {
  const log = opts.log ?? createLogger('enrolment', { socket: socketPath });
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  await mkdir(dirname(socketPath), { recursive: true });
  await removeStaleSocket(socketPath);

  const sockets = new Set<Socket>();
  // allowHalfOpen: a client may send its requests and end; we still answer each one.
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    serveConnection(sock, handler, log, idleTimeoutMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Only root (the CNI plugin, run by the kubelet) may enrol pods.
  await chmod(socketPath, 0o600);
  server.on('error', (err) => log.error('enrolment server error', { err }));
  log.info('enrolment server listening');

  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(() => unlink(socketPath).catch(() => undefined));
      return closed;
    },
  };
}

/** A socket file left by a dead agent is removed; one that answers means an agent is running. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const st = await lstat(socketPath).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) {
    throw new AmbitError('AMBIT_E_CONFIG', `enrolment socket path ${socketPath} exists and is not a socket`, {
      hint: 'choose another agentSocket path or remove the file',
    });
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new AmbitError('AMBIT_E_CONFIG', `another process is serving the enrolment socket ${socketPath}`, {
      hint: 'only one agent may run per node; stop the other agent first',
    });
  }
  await unlink(socketPath);
}

function serveConnection(sock: Socket, handler: EnrolmentHandler, log: Logger, idleTimeoutMs: number): void {
  const splitter = new LineSplitter(MAX_LINE_BYTES);
  let queue: Promise<void> = Promise.resolve();
  let closing = false;
  sock.setTimeout(idleTimeoutMs, () => sock.destroy());
  sock.on('error', (err) => log.debug('enrolment connection error', { err }));

  const refuse = (reason: string): void => {
    if (closing) return;
    closing = true;
    log.warn('malformed enrolment request; closing the connection', { reason });
    // Answer after the requests already queued on this connection, then close it.
    queue = queue.then(() => {
      if (!sock.destroyed) sock.end(encodeLine({ ok: false, error: `malformed request: ${reason}` }));
    });
  };

  sock.on('data', (chunk: Buffer) => {
    if (closing) return;
    let lines: string[];
    try {
      lines = splitter.push(chunk);
    } catch (err) {
      refuse((err as Error).message);
      return;
    }
    for (const line of lines) {
      if (closing) return;
      if (line.trim() === '') continue;
      let req: EnrolmentRequest;
      try {
        req = parseRequest(line);
      } catch (err) {
        refuse(err instanceof MalformedMessageError ? err.message : describeError(err));
        return;
      }
      queue = queue.then(async () => {
        const res = await dispatch(handler, req, log);
        if (!sock.destroyed) sock.write(encodeLine(res));
      });
    }
  });
  sock.on('end', () => {
    // A last request without its newline is malformed, but the peer is gone: just log it.
    if (!closing && splitter.rest().trim() !== '') log.warn('enrolment connection ended inside a line');
    void queue.then(() => {
      if (!sock.destroyed) sock.end();
    });
  });
}

async function dispatch(handler: EnrolmentHandler, req: EnrolmentRequest, log: Logger): Promise<EnrolmentResponse> {
  try {
    switch (req.op) {
      case 'query': {
        const q = { namespace: req.namespace, name: req.name, ...(req.labels ? { labels: req.labels } : {}) };
        const answer = await handler.query(q);
        return typeof answer === 'boolean' ? { ok: true, enrolled: answer } : { ok: true, ...answer };
      }
      case 'add':
        await handler.add(req.pod);
        log.info('pod enrolled', { uid: req.pod.uid, pod: `${req.pod.namespace}/${req.pod.name}` });
        return { ok: true };
      case 'delete':
        await handler.delete(req.uid, req.netnsPath);
        log.info('pod removed', { uid: req.uid });
        return { ok: true };
      case 'list':
        return { ok: true, pods: await handler.list() };
    }
  } catch (err) {
    if (err instanceof RetryLater) {
      log.info('enrolment deferred; the caller retries', { op: req.op, reason: err.message });
      return { ok: false, error: err.message, retry: true };
    }
    log.warn('enrolment request failed', { op: req.op, err: describeError(err) });
    return { ok: false, error: describeError(err) };
  }
}
