// The CNI ↔ agent enrolment protocol: newline-delimited JSON over a Unix socket.
// One JSON object per line in each direction; every request line gets exactly one response
// line, in order. Documented in proto/enrolment.md. This file holds the types and the pure
// validation of lines; server.ts and client.ts do the I/O.
import { isIP } from 'node:net';

export const DEFAULT_AGENT_SOCKET = '/var/run/ambit/agent.sock';
/** A request or response line longer than this is malformed (closes the connection). */
export const MAX_LINE_BYTES = 1024 * 1024;

export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  /** Path of the pod's network namespace (e.g. /var/run/netns/x or /proc/<pid>/ns/net). */
  netnsPath: string;
  /** The pod's IP addresses (from the CNI prevResult). */
  ips: string[];
  serviceAccount?: string;
  labels?: Record<string, string>;
}

export interface EnrolmentQuery {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
}

export type EnrolmentRequest =
  | ({ op: 'query' } & EnrolmentQuery)
  | { op: 'add'; pod: PodInfo }
  | { op: 'delete'; uid: string; netnsPath?: string }
  | { op: 'list' };

/**
 * The answer to a query: whether the pod is captured, and for a captured pod whether its DNS
 * (port 53) goes to the agent's DNS proxy. `dnsCapture: false` = no DNS redirect in the pod
 * (the mesh's DNS capture is off, or the agent runs no DNS proxy); absent = captured.
 */
export interface QueryAnswer {
  enrolled: boolean;
  dnsCapture?: boolean;
}

export type EnrolmentResponse =
  | { ok: true; enrolled?: boolean; dnsCapture?: boolean; pods?: PodInfo[] }
  /** `retry`: the agent cannot decide yet (e.g. it does not know the pod's namespace); ask again later. */
  | { ok: false; error: string; retry?: boolean };

/**
 * Thrown by a handler that cannot decide yet: the answer is {ok:false, retry:true}, the CNI
 * ADD fails with "try again later" and leaves the pod as it was, and the kubelet retries.
 */
export class RetryLater extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLater';
  }
}

/** What the agent implements; the server turns each request into one call. */
export interface EnrolmentHandler {
  /**
   * Is this pod captured by the mesh (namespace label, pod opt-out), and its DNS with it?
   * Throws RetryLater when it cannot tell yet. A bare boolean: enrolled, DNS as the default.
   */
  query(q: EnrolmentQuery): Promise<boolean | QueryAnswer>;
  /** Resolve only when the pod's listeners are up and its certificate is held. */
  add(pod: PodInfo): Promise<void>;
  /** Forget the pod; succeed for a pod that is unknown or already gone. */
  delete(uid: string, netnsPath?: string): Promise<void>;
  /** Every pod currently enrolled (snapshot, for replay after an agent restart). */
  list(): Promise<PodInfo[]>;
}

/** A line that is not a valid message; names the offending field. */
export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(obj: Json, field: string, where: string, optional = false): string | undefined {
  const v = obj[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0)
    throw new MalformedMessageError(`${where}.${field}: expected a non-empty string`);
  return v;
}

function labelsOf(obj: Json, where: string): Record<string, string> | undefined {
  const v = obj.labels;
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new MalformedMessageError(`${where}.labels: expected an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new MalformedMessageError(`${where}.labels.${k}: expected a string`);
    // defineProperty: a label named __proto__ is kept as data, never taken as the prototype.
    Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function parsePodInfo(v: unknown, where = 'pod'): PodInfo {
  if (!isObject(v)) throw new MalformedMessageError(`${where}: expected an object`);
  const ips = v.ips;
  if (!Array.isArray(ips)) throw new MalformedMessageError(`${where}.ips: expected an array of IP addresses`);
  ips.forEach((ip, i) => {
    if (typeof ip !== 'string' || isIP(ip) === 0)
      throw new MalformedMessageError(`${where}.ips[${i}]: not an IP address: ${JSON.stringify(ip)}`);
  });
  const pod: PodInfo = {
    uid: str(v, 'uid', where)!,
    name: str(v, 'name', where)!,
    namespace: str(v, 'namespace', where)!,
    netnsPath: str(v, 'netnsPath', where)!,
    ips: [...(ips as string[])],
  };
  const sa = str(v, 'serviceAccount', where, true);
  if (sa !== undefined) pod.serviceAccount = sa;
  const labels = labelsOf(v, where);
  if (labels !== undefined) pod.labels = labels;
  return pod;
}

function parseJsonLine(line: string): unknown {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES)
    throw new MalformedMessageError(`line longer than ${MAX_LINE_BYTES} bytes`);
  try {
    return JSON.parse(line);
  } catch (err) {
    throw new MalformedMessageError(`not JSON: ${(err as Error).message}`);
  }
}

/** Parse and validate one request line; throws MalformedMessageError. */
export function parseRequest(line: string): EnrolmentRequest {
  const v = parseJsonLine(line);
  if (!isObject(v)) throw new MalformedMessageError('request: expected a JSON object');
  switch (v.op) {
    case 'query': {
      const q: EnrolmentRequest = {
        op: 'query',
        namespace: str(v, 'namespace', 'query')!,
        name: str(v, 'name', 'query')!,
      };
      const labels = labelsOf(v, 'query');
      if (labels !== undefined) q.labels = labels;
      return q;
    }
    case 'add':
      return { op: 'add', pod: parsePodInfo(v.pod) };
    case 'delete': {
      const netnsPath = str(v, 'netnsPath', 'delete', true);
      return { op: 'delete', uid: str(v, 'uid', 'delete')!, ...(netnsPath !== undefined ? { netnsPath } : {}) };
    }
    case 'list':
      return { op: 'list' };
    default:
      throw new MalformedMessageError(`request.op: expected query|add|delete|list, got ${JSON.stringify(v.op)}`);
  }
}

/** Parse and validate one response line; throws MalformedMessageError. */
export function parseResponse(line: string): EnrolmentResponse {
  const v = parseJsonLine(line);
  if (!isObject(v) || typeof v.ok !== 'boolean')
    throw new MalformedMessageError('response: expected an object with a boolean "ok"');
  if (!v.ok) {
    if (v.retry !== undefined && typeof v.retry !== 'boolean')
      throw new MalformedMessageError('response.retry: expected a boolean');
    return {
      ok: false,
      error: typeof v.error === 'string' ? v.error : 'agent refused without a reason',
      ...(v.retry === true ? { retry: true } : {}),
    };
  }
  const res: EnrolmentResponse = { ok: true };
  if (v.enrolled !== undefined) {
    if (typeof v.enrolled !== 'boolean') throw new MalformedMessageError('response.enrolled: expected a boolean');
    res.enrolled = v.enrolled;
  }
  if (v.dnsCapture !== undefined) {
    if (typeof v.dnsCapture !== 'boolean') throw new MalformedMessageError('response.dnsCapture: expected a boolean');
    res.dnsCapture = v.dnsCapture;
  }
  if (v.pods !== undefined) {
    if (!Array.isArray(v.pods)) throw new MalformedMessageError('response.pods: expected an array');
    res.pods = v.pods.map((p, i) => parsePodInfo(p, `response.pods[${i}]`));
  }
  return res;
}

export function encodeLine(msg: EnrolmentRequest | EnrolmentResponse): string {
  return JSON.stringify(msg) + '\n';
}
