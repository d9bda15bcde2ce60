// Installs, removes and checks the capture rules inside a pod's netns (rules.ts has the text),
// for IPv4 and, when the pod has an IPv6 address, IPv6 (ip6tables, ip -6).
import { AmbitError } from '../../core/errors.js';
import { mustRunInNetns, runInNetns } from '../netns/run.js';
import {
  buildInstallScript,
  buildRemovalScript,
  diffInstalled,
  hasIpRoute,
  hasIpRule,
  ipRouteArgs,
  ipRuleArgs,
  parseSave,
  ROUTE_TABLE,
  WITH_DNS,
  type CaptureOptions,
  type Family,
} from './rules.js';

/** What ADD may change for one address family, to restore and compare. */
export interface FamilyState {
  iptablesSave: string;
  ipRule: boolean;
  ipRoute: boolean;
}
export type NetnsState = Partial<Record<`v${Family}`, FamilyState>>;

const SAVE = { 4: 'iptables-save', 6: 'ip6tables-save' } as const;
const RESTORE = { 4: 'iptables-restore', 6: 'ip6tables-restore' } as const;
const NFT_FAMILY = { 4: 'ip', 6: 'ip6' } as const;
const FAMILIES: readonly Family[] = [4, 6];

async function familyState(netnsPath: string, family: Family): Promise<FamilyState | undefined> {
  const save = await runInNetns(netnsPath, SAVE[family], []);
  if (save.code !== 0) {
    if (family === 6) return undefined; // IPv6 disabled or no ip6tables: nothing of ours can be there
    throw new AmbitError('AMBIT_E_NETNS', `${SAVE[family]} failed in ${netnsPath}: ${save.stderr.trim()}`);
  }
  const rules = await runInNetns(netnsPath, 'ip', [`-${family}`, 'rule', 'show']);
  // "FIB table does not exist" (exit 2) simply means no route there
  const routes = await runInNetns(netnsPath, 'ip', [`-${family}`, 'route', 'show', 'table', String(ROUTE_TABLE)]);
  return {
    iptablesSave: save.stdout,
    ipRule: rules.code === 0 && hasIpRule(rules.stdout),
    ipRoute: routes.code === 0 && hasIpRoute(routes.stdout),
  };
}

export async function snapshot(netnsPath: string): Promise<NetnsState> {
  const state: NetnsState = {};
  for (const f of FAMILIES) {
    const s = await familyState(netnsPath, f);
    if (s) state[`v${f}`] = s;
  }
  return state;
}

/** iptables-save without comments (timestamps) and counters, for comparisons. */
export function comparableSave(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.trim() !== '')
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
}

/** The families a pod needs captured, from its IPs. */
export function familiesOf(ips: readonly string[]): Family[] {
  return [4, ...(ips.some((ip) => ip.includes(':')) ? [6 as const] : [])];
}

/** Write the rules for each family (replacing any of ours already there, e.g. a repeated ADD). */
export async function installCapture(
  netnsPath: string,
  families: readonly Family[] = [4],
  options: CaptureOptions = WITH_DNS,
): Promise<void> {
  const before = await snapshot(netnsPath);
  for (const f of families) {
    const b = before[`v${f}`];
    if (!b) throw new AmbitError('AMBIT_E_NETNS', `cannot read the IPv${f} rules of ${netnsPath} (${SAVE[f]} failed)`);
    const stale = buildRemovalScript(b.iptablesSave);
    if (stale) await mustRunInNetns(netnsPath, RESTORE[f], ['-w', '5', '--noflush'], stale);
    await mustRunInNetns(netnsPath, RESTORE[f], ['-w', '5', '--noflush'], buildInstallScript(options));
    if (!b.ipRule) await mustRunInNetns(netnsPath, 'ip', ipRuleArgs(f, 'add'));
    if (!b.ipRoute) await mustRunInNetns(netnsPath, 'ip', ipRouteArgs(f, 'add'));
  }
}

/**
 * Remove everything of ours, both families. With `restoreTo` (the state before a failed ADD),
 * also drop the iptables tables that only exist because we created them, so iptables-save
 * matches again. Returns what could not be removed (empty on success).
 */
export async function removeCapture(netnsPath: string, restoreTo?: NetnsState): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  const now = await snapshot(netnsPath);
  for (const f of FAMILIES) {
    const cur = now[`v${f}`];
    if (!cur) continue;
    const prev = restoreTo?.[`v${f}`];
    const removal = buildRemovalScript(cur.iptablesSave);
    if (removal)
      await attempt(`IPv${f} iptables`, () => mustRunInNetns(netnsPath, RESTORE[f], ['-w', '5', '--noflush'], removal));
    if (cur.ipRule && !prev?.ipRule)
      await attempt(`IPv${f} ip rule`, () => mustRunInNetns(netnsPath, 'ip', ipRuleArgs(f, 'del')));
    if (cur.ipRoute && !prev?.ipRoute)
      await attempt(`IPv${f} ip route`, () => mustRunInNetns(netnsPath, 'ip', ipRouteArgs(f, 'del')));
    if (restoreTo)
      await attempt(`IPv${f} iptables tables`, () => dropTablesWeCreated(netnsPath, f, prev?.iptablesSave ?? ''));
  }
  return failures;
}

/** iptables-nft creates a table on first use; an empty one that was not there before goes. */
async function dropTablesWeCreated(netnsPath: string, family: Family, beforeSave: string): Promise<void> {
  const before = parseSave(beforeSave);
  const afterSave = await mustRunInNetns(netnsPath, SAVE[family], []);
  if (!afterSave.includes('nf_tables')) return; // legacy backend: tables always exist
  for (const [table, t] of parseSave(afterSave)) {
    if (before.has(table) || t.rules.length > 0) continue;
    const r = await runInNetns(netnsPath, 'nft', ['delete', 'table', NFT_FAMILY[family], table]).catch(() => undefined);
    if (r && r.code !== 0)
      throw new AmbitError('AMBIT_E_NETNS', `nft delete table ${NFT_FAMILY[family]} ${table}: ${r.stderr.trim()}`);
  }
}

/** What is missing from an installed capture; empty when complete. */
export async function checkCapture(
  netnsPath: string,
  families: readonly Family[] = [4],
  options: CaptureOptions = WITH_DNS,
): Promise<string[]> {
  const s = await snapshot(netnsPath);
  const problems: string[] = [];
  for (const f of families) {
    const cur = s[`v${f}`];
    if (!cur) {
      problems.push(`IPv${f}: cannot read the rules`);
      continue;
    }
    const tag = f === 6 ? 'IPv6 ' : '';
    problems.push(...diffInstalled(cur.iptablesSave, options).map((p) => tag + p));
    if (!cur.ipRule) problems.push(`${tag}ip rule "${ipRuleArgs(f, 'add').slice(3).join(' ')}" missing`);
    if (!cur.ipRoute) problems.push(`${tag}ip route "${ipRouteArgs(f, 'add').slice(3).join(' ')}" missing`);
  }
  return problems;
}

/** True when the netns state equals `before` (iptables rules, ip rule, ip route, both families). */
export async function sameState(netnsPath: string, before: NetnsState): Promise<boolean> {
  const now = await snapshot(netnsPath);
  return FAMILIES.every((f) => {
    const a = now[`v${f}`];
    const b = before[`v${f}`];
    if (!a || !b) return a === b;
    return (
      comparableSave(a.iptablesSave) === comparableSave(b.iptablesSave) &&
      a.ipRule === b.ipRule &&
      a.ipRoute === b.ipRoute
    );
  });
}
