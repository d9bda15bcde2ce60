// The CNI side of the enrolment protocol: one request, one response, on a fresh connection.
// Transport failures (no agent, timeout, garbage) throw AmbitError; an answer {ok:false} from
// the agent is returned as is, for the caller to report.
import { connect } from 'node:net';
import { AmbitError } from '../errors.js';
import { LineSplitter } from './lines.js';
import {
  encodeLine,
  MAX_LINE_BYTES,
  parseResponse,
  type EnrolmentRequest,
  type EnrolmentResponse,
} from './protocol.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export function enrolmentRequest(
  socketPath: string,
  req: EnrolmentRequest,
  timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<EnrolmentResponse> {
  return new Promise<EnrolmentResponse>((resolve, reject) => {
    const sock = connect({ path: socketPath, allowHalfOpen: true });
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    let settled = false;
    const finish = (err: Error | undefined, res?: EnrolmentResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => {
      finish(
        new AmbitError(
          'AMBIT_E_TIMEOUT',
          `agent did not answer the ${req.op} request on ${socketPath} within ${timeoutMs} ms`,
          {
            hint: 'check the node agent is running and healthy (its logs, /healthz/ready)',
          },
        ),
      );
    }, timeoutMs);

    sock.once('connect', () => sock.write(encodeLine(req)));
    sock.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (err) {
        finish(protocolError(socketPath, (err as Error).message));
        return;
      }
      const line = lines.find((l) => l.trim() !== '');
      if (line === undefined) return;
      try {
        finish(undefined, parseResponse(line));
      } catch (err) {
        finish(protocolError(socketPath, (err as Error).message));
      }
    });
    sock.on('end', () => finish(protocolError(socketPath, `connection closed before the answer to ${req.op}`)));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const unreachable = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      finish(
        new AmbitError('AMBIT_E_UPSTREAM', `cannot reach the agent on ${socketPath}: ${err.code ?? err.message}`, {
          hint: unreachable
            ? 'is the ambit agent running on this node? (agentSocket in the CNI config)'
            : 'check the agent logs',
          cause: err,
        }),
      );
    });
  });
}

function protocolError(socketPath: string, detail: string): AmbitError {
  return new AmbitError('AMBIT_E_UPSTREAM', `bad answer from the agent on ${socketPath}: ${detail}`, {
    hint: 'the agent and the CNI plugin may be different versions',
  });
}
