// The agent's DNS proxy logic, without sockets: a pod's query in, the answer out. Mesh names
// (name-table.ts) are answered here with their VIPs; everything else, and every query when
// the mesh's dnsCapture is off, goes to the upstream resolvers unchanged. A message that does
// not decode is dropped (undefined); a query the proxy cannot serve gets SERVFAIL. Each query
// is counted in Prometheus with ztunnel's DNS metrics (metrics.ts), the `stats` kept here too.
import type { Registry } from 'prom-client';
import { isAmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  addressRecord,
  decodeMessage,
  encodeMessage,
  OPCODE_QUERY,
  RCODE,
  TYPE,
  type DnsMessage,
  type DnsRecord,
} from '../../core/dns/wire.js';
import { DnsMetrics, type DnsQueryFacts, type DnsSource } from './metrics.js';
import type { NameTable } from './name-table.js';
import type { Upstream } from './upstream.js';

/** Istio's DNS proxy answers mesh names with a 30 s TTL. */
export const MESH_TTL_SECONDS = 30;
const UDP_PLAIN_LIMIT = 512;
/** Queries one pod may have at the upstream resolvers at once; more are dropped (the client retries). */
export const MAX_PENDING_PER_POD = 256;

export interface DnsClient {
  /** The pod's namespace: short names are relative to it. */
  readonly namespace: string;
  /** The pod's address families: AAAA answers carry IPv6 VIPs only for a pod that has IPv6. */
  readonly families: readonly (4 | 6)[];
  /** The pod's workload, for the metrics' source labels. */
  readonly workload?: DnsSource;
}

export interface DnsProxyDeps {
  /** The current name table (rebuilt with each snapshot). */
  names(): NameTable;
  /** Mesh dnsCapture (default true). */
  capture(): boolean;
  upstream: Upstream;
  log: Logger;
  /**
   * On-demand discovery: fetch what a name selects from the controller (resolves once applied,
   * never rejects). A name the table does not hold is looked up once before it is forwarded.
   */
  lookup?: (name: string) => Promise<void>;
  /** Where the DNS metrics are registered (the agent's /metrics); absent = not exported. */
  registry?: Registry;
}

/** Distinct names one agent looks up on demand; past that, unknown names go upstream at once. */
export const MAX_LOOKUPS = 10_000;
/** How long a query waits for on-demand answers before it goes on with what the agent holds. */
export const LOOKUP_WAIT_MS = 1000;

export interface DnsStats {
  answered: number;
  forwarded: number;
  dropped: number;
  failed: number;
}

export class DnsProxy {
  readonly stats: DnsStats = { answered: 0, forwarded: 0, dropped: 0, failed: 0 };
  /** Names looked up on demand (settled or in flight). */
  private readonly looked = new Map<string, Promise<void>>();
  private readonly metrics: DnsMetrics | undefined;
  constructor(private readonly deps: DnsProxyDeps) {
    this.metrics = deps.registry ? new DnsMetrics(deps.registry) : undefined;
  }

  /** The answer to one query (as bytes), or undefined when the message is dropped. */
  async handle(query: Buffer, client: DnsClient, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let msg: DnsMessage;
    try {
      msg = decodeMessage(query);
    } catch (err) {
      if (!isAmbitError(err, 'AMBIT_E_DNS')) throw err;
      this.stats.dropped++;
      this.deps.log.debug('DNS message dropped', { err: err.message });
      return undefined;
    }
    if (msg.response) {
      this.stats.dropped++;
      return undefined;
    }
    const facts: DnsQueryFacts = {
      type: msg.questions[0]?.type ?? 0,
      transport,
      ...(client.workload ? { source: client.workload } : {}),
    };
    this.metrics?.query(facts);
    const capture = this.deps.capture();
    let local = capture ? this.answerLocally(msg, client, transport) : undefined;
    if (!local && capture && (await this.lookUp(msg, client))) local = this.answerLocally(msg, client, transport);
    if (local) {
      this.stats.answered++;
      return local;
    }
    const started = performance.now();
    try {
      const reply = await this.deps.upstream.exchange(query, transport);
      this.stats.forwarded++;
      this.metrics?.forwarded(facts, (performance.now() - started) / 1000, false);
      return reply;
    } catch (err) {
      this.stats.failed++;
      this.metrics?.forwarded(facts, (performance.now() - started) / 1000, true);
      this.deps.log.debug('DNS upstream failed', { err: (err as Error).message });
      return encodeMessage(reply(msg, RCODE.SERVFAIL, []));
    }
  }

  /**
   * On demand: ask the controller for the names an address query may mean, once per name; a
   * query for a name already being looked up (the A and AAAA queries of one getaddrinfo) waits
   * for that lookup too. True when the table may have changed since the query was first tried.
   */
  private async lookUp(msg: DnsMessage, client: DnsClient): Promise<boolean> {
    const lookup = this.deps.lookup;
    const q = msg.questions[0];
    if (!lookup || msg.questions.length !== 1 || !q || (q.type !== TYPE.A && q.type !== TYPE.AAAA)) return false;
    const waits: Promise<void>[] = [];
    for (const name of this.deps.names().candidates(q.name, client.namespace)) {
      let pending = this.looked.get(name);
      if (!pending) {
        if (this.looked.size >= MAX_LOOKUPS) continue;
        pending = lookup(name);
        this.looked.set(name, pending);
      }
      waits.push(pending);
    }
    if (waits.length === 0) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, LOOKUP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    return true;
  }

  /** An answer from the mesh's names, or undefined when the query is for the upstream. */
  private answerLocally(msg: DnsMessage, client: DnsClient, transport: 'udp' | 'tcp'): Buffer | undefined {
    if (msg.opcode !== OPCODE_QUERY || msg.questions.length !== 1) return undefined;
    const q = msg.questions[0]!;
    if (q.type !== TYPE.A && q.type !== TYPE.AAAA) return undefined;
    const family = q.type === TYPE.A ? 4 : 6;
    const hit = this.deps.names().lookup(q.name, client.namespace, family);
    if (!hit) return undefined;
    const addresses = family === 6 && !client.families.includes(6) ? [] : hit.addresses;
    // The name exists: no address of this family is an empty NOERROR answer, not NXDOMAIN.
    const answers: DnsRecord[] = addresses.map((ip) => addressRecord(q.name, ip, MESH_TTL_SECONDS));
    const full = encodeMessage(reply(msg, RCODE.NOERROR, answers));
    // Over UDP without EDNS an answer is at most 512 bytes: a longer one says "truncated", the
    // client asks again over TCP.
    if (transport === 'udp' && full.length > UDP_PLAIN_LIMIT)
      return encodeMessage({ ...reply(msg, RCODE.NOERROR, []), truncated: true });
    return full;
  }
}

function reply(query: DnsMessage, rcode: number, answers: DnsRecord[]): DnsMessage {
  return {
    id: query.id,
    response: true,
    opcode: query.opcode,
    authoritative: rcode === RCODE.NOERROR,
    truncated: false,
    recursionDesired: query.recursionDesired,
    recursionAvailable: true,
    rcode,
    questions: query.questions,
    answers,
    authorities: [],
    additionals: [],
  };
}
