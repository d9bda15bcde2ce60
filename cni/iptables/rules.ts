// The capture rules ambit-cni writes inside an enrolled pod's network namespace, as pure
// text for iptables-restore / from iptables-save. Everything lives in our own chains, each
// reached by one jump from a built-in chain, so removal is exact and leaves other rules alone.
// The same text serves iptables and ip6tables (dual-stack pods).
//
// nat    AMBIT_OUTPUT   outbound TCP → 15001, except agent sockets (mark 0x539), replies of
//                       connections the agent made transparently (connmark 0x111), and
//                       anything leaving through lo (loopback and to-self traffic)
//                       DNS: TCP to port 53 → 15053 (the agent's DNS proxy), even to a loopback
//                       resolver (a pod sharing a host's resolv.conf names one it cannot reach)
// nat    AMBIT_DNS      UDP to port 53 → 15053, except agent sockets
//                       (with DNS capture off, neither DNS rule is written: port 53 is not redirected)
// nat    AMBIT_INBOUND  inbound TCP → 15006, except HBONE (15008), agent-marked packets and lo
// mangle AMBIT_PREROUTING / AMBIT_OUTPUT: source-IP preservation. The agent connects to the
//                       app with SO_MARK 0x539 + IP_TRANSPARENT from the client's IP; the
//                       connection is tagged 0x111 and the app's replies get mark 0x111,
//                       which `ip rule fwmark 0x111 lookup 100` routes back locally (see
//                       ipRouteCommands).

export const OUTBOUND_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;
/** The agent's in-pod DNS proxy (UDP and TCP), where queries to port 53 are redirected. */
export const DNS_PROXY_PORT = 15053;
/** SO_MARK on every socket the agent opens in a pod netns (never captured again). */
export const AGENT_MARK = 0x539;
/** Connection mark for connections the agent opened to the app with the client's source IP. */
export const CONN_MARK = 0x111;
export const MARK_MASK = 0xfff;
export const ROUTE_TABLE = 100;
export const RULE_PRIORITY = 32764;

export const CHAIN_PREFIX = 'AMBIT_';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** What a pod's capture includes besides TCP: its DNS (port 53 → the agent's DNS proxy), unless off. */
export interface CaptureOptions {
  readonly dns: boolean;
}
export const WITH_DNS: CaptureOptions = { dns: true };
const agentMark = `${hex(AGENT_MARK)}/${hex(MARK_MASK)}`;
const connMark = `${hex(CONN_MARK)}/${hex(MARK_MASK)}`;

interface ChainSpec {
  readonly table: 'mangle' | 'nat';
  readonly builtin: 'PREROUTING' | 'OUTPUT';
  readonly chain: string;
  /** Rule bodies, in the canonical form iptables-save prints them (CHECK compares text). */
  readonly rules: readonly string[];
  /** Match on the jump from the built-in chain. */
  readonly jumpMatch: string;
}

const DNS_TCP_RULE = `-p tcp -m tcp --dport 53 -j REDIRECT --to-ports ${DNS_PROXY_PORT}`;
const DNS_CHAIN = 'AMBIT_DNS';

export const CHAINS: readonly ChainSpec[] = [
  {
    table: 'mangle',
    builtin: 'PREROUTING',
    chain: 'AMBIT_PREROUTING',
    jumpMatch: '',
    rules: [`-m mark --mark ${agentMark} -j CONNMARK --set-xmark ${connMark}`],
  },
  {
    table: 'mangle',
    builtin: 'OUTPUT',
    chain: 'AMBIT_OUTPUT',
    jumpMatch: '',
    rules: [`-m connmark --mark ${connMark} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`],
  },
  {
    table: 'nat',
    builtin: 'OUTPUT',
    chain: 'AMBIT_OUTPUT',
    jumpMatch: '-p tcp ',
    rules: [
      `-m mark --mark ${agentMark} -j RETURN`,
      `-m connmark --mark ${connMark} -j RETURN`,
      DNS_TCP_RULE,
      '-o lo -j RETURN',
      `-p tcp -j REDIRECT --to-ports ${OUTBOUND_PORT}`,
    ],
  },
  {
    table: 'nat',
    builtin: 'OUTPUT',
    chain: DNS_CHAIN,
    jumpMatch: '-p udp ',
    rules: [
      `-m mark --mark ${agentMark} -j RETURN`,
      `-p udp -m udp --dport 53 -j REDIRECT --to-ports ${DNS_PROXY_PORT}`,
    ],
  },
  {
    table: 'nat',
    builtin: 'PREROUTING',
    chain: 'AMBIT_INBOUND',
    jumpMatch: '-p tcp ',
    rules: [
      `-m mark --mark ${agentMark} -j RETURN`,
      '-i lo -j RETURN',
      `-p tcp -m tcp --dport ${HBONE_PORT} -j RETURN`,
      `-p tcp -j REDIRECT --to-ports ${INBOUND_PLAINTEXT_PORT}`,
    ],
  },
];

const WITHOUT_DNS: readonly ChainSpec[] = CHAINS.filter((c) => c.chain !== DNS_CHAIN).map((c) =>
  c.rules.includes(DNS_TCP_RULE) ? { ...c, rules: c.rules.filter((r) => r !== DNS_TCP_RULE) } : c,
);

/** The chains of a capture: all of them, or without the DNS redirects. */
export function chainsFor(o: CaptureOptions): readonly ChainSpec[] {
  return o.dns ? CHAINS : WITHOUT_DNS;
}

const TABLES = ['mangle', 'nat'] as const;
type Table = (typeof TABLES)[number];

function jumpRule(spec: ChainSpec): string {
  return `-A ${spec.builtin} ${spec.jumpMatch}-j ${spec.chain}`;
}

/** The iptables-restore input (use with --noflush) that installs every chain and jump. */
export function buildInstallScript(o: CaptureOptions = WITH_DNS): string {
  const out: string[] = [];
  for (const table of TABLES) {
    const specs = chainsFor(o).filter((c) => c.table === table);
    out.push(`*${table}`);
    for (const s of specs) out.push(`:${s.chain} - [0:0]`);
    for (const s of specs) out.push(jumpRule(s));
    for (const s of specs) for (const r of s.rules) out.push(`-A ${s.chain} ${r}`);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** One table of an iptables-save dump: chain declarations and -A rules. */
export interface SavedTable {
  readonly chains: Set<string>;
  /** `-A CHAIN …` lines, in order. */
  readonly rules: string[];
}

/** Parse iptables-save output, dropping comments and counters. */
export function parseSave(save: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current && line.startsWith(':')) {
      current.chains.add(line.slice(1).split(/\s+/)[0]!);
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line.replace(/^\[\d+:\d+\]\s+/, ''));
    }
  }
  return tables;
}

const isOurs = (chain: string): boolean => chain.startsWith(CHAIN_PREFIX);
const chainOf = (rule: string): string => rule.split(/\s+/)[1] ?? '';
const targetOf = (rule: string): string | undefined => /\s-[jg]\s+(\S+)/.exec(rule)?.[1];

/** True when any table of the dump has one of our chains or a jump to one. */
export function hasAmbitRules(save: string): boolean {
  for (const t of parseSave(save).values()) {
    if ([...t.chains].some(isOurs)) return true;
    if (t.rules.some((r) => isOurs(targetOf(r) ?? ''))) return true;
  }
  return false;
}

/**
 * The iptables-restore input (use with --noflush) that removes exactly what we installed,
 * as found in `save`: every jump to one of our chains, then the chains. Undefined when there
 * is nothing of ours.
 */
export function buildRemovalScript(save: string): string | undefined {
  const out: string[] = [];
  for (const [table, t] of parseSave(save)) {
    const ours = [...t.chains].filter(isOurs);
    const jumps = t.rules.filter((r) => !isOurs(chainOf(r)) && isOurs(targetOf(r) ?? ''));
    if (ours.length === 0 && jumps.length === 0) continue;
    out.push(`*${table}`);
    for (const j of jumps) out.push(j.replace(/^-A /, '-D '));
    for (const c of ours) out.push(`-F ${c}`);
    for (const c of ours) out.push(`-X ${c}`);
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : undefined;
}

/** What is missing or different from the expected rules; empty when everything is in place. */
export function diffInstalled(save: string, o: CaptureOptions = WITH_DNS): string[] {
  const tables = parseSave(save);
  const problems: string[] = [];
  const chains = chainsFor(o);
  for (const [table, t] of tables)
    for (const c of t.chains)
      if (isOurs(c) && !chains.some((s) => s.table === table && s.chain === c))
        problems.push(`${table}/${c}: unexpected chain`);
  for (const spec of chains) {
    const t: SavedTable | undefined = tables.get(spec.table as Table);
    const where = `${spec.table}/${spec.chain}`;
    if (!t || !t.chains.has(spec.chain)) {
      problems.push(`${where}: chain missing`);
      continue;
    }
    const jump = jumpRule(spec);
    const jumps = t.rules.filter((r) => r === jump).length;
    if (jumps !== 1) problems.push(`${spec.table}/${spec.builtin}: expected one "${jump}", found ${jumps}`);
    const want = spec.rules.map((r) => `-A ${spec.chain} ${r}`);
    const have = t.rules.filter((r) => chainOf(r) === spec.chain);
    const before = problems.length;
    for (const w of want) if (!have.includes(w)) problems.push(`${where}: missing rule "${w}"`);
    for (const h of have) if (!want.includes(h)) problems.push(`${where}: unexpected rule "${h}"`);
    if (problems.length === before && have.join('\n') !== want.join('\n'))
      problems.push(`${where}: rules out of order`);
  }
  return problems;
}

export type Family = 4 | 6;

/** `ip` arguments (run inside the netns) for the policy rule and local route of source-IP preservation. */
export function ipRuleArgs(family: Family, action: 'add' | 'del'): string[] {
  return [
    `-${family}`,
    'rule',
    action,
    'fwmark',
    `${hex(CONN_MARK)}/${hex(MARK_MASK)}`,
    'pref',
    String(RULE_PRIORITY),
    'lookup',
    String(ROUTE_TABLE),
  ];
}
export function ipRouteArgs(family: Family, action: 'add' | 'del'): string[] {
  return [
    `-${family}`,
    'route',
    action,
    'local',
    family === 4 ? '0.0.0.0/0' : '::/0',
    'dev',
    'lo',
    'table',
    String(ROUTE_TABLE),
  ];
}

/** Is our policy rule in `ip rule show` output? (e.g. "32764:\tfrom all fwmark 0x111/0xfff lookup 100") */
export function hasIpRule(ipRuleShow: string): boolean {
  const re = new RegExp(
    `^${RULE_PRIORITY}:\\s+from all fwmark ${hex(CONN_MARK)}/${hex(MARK_MASK)} lookup ${ROUTE_TABLE}\\b`,
    'm',
  );
  return re.test(ipRuleShow);
}

/** Is our local route in `ip route show table 100` output? (e.g. "local default dev lo scope host") */
export function hasIpRoute(ipRouteShow: string): boolean {
  return /^local (default|0\.0\.0\.0\/0|::\/0) dev lo\b/m.test(ipRouteShow);
}
