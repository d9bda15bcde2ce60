// Installs, removes and checks the capture rules inside a pod's netns (rules.ts has the text).
import { AmbitError } from '../../core/errors.js';
import { mustRunInNetns, runInNetns } from '../netns/run.js';
import {
  buildInstallScript, buildRemovalScript, diffInstalled, hasIpRoute, hasIpRule, parseSave,
  IP_ROUTE_ARGS, IP_ROUTE_DEL_ARGS, IP_RULE_ARGS, IP_RULE_DEL_ARGS, ROUTE_TABLE,
} from './rules.js';

/** Everything of the netns that ADD may change, to restore and compare. */
export interface NetnsState {
  iptablesSave: string;
  ipRule: boolean;
  ipRoute: boolean;
}

export async function snapshot(netnsPath: string): Promise<NetnsState> {
  const iptablesSave = await mustRunInNetns(netnsPath, 'iptables-save', []);
  const rules = await mustRunInNetns(netnsPath, 'ip', ['rule', 'show']);
  // "FIB table does not exist" (exit 2) simply means no route there
  const routes = await runInNetns(netnsPath, 'ip', ['route', 'show', 'table', String(ROUTE_TABLE)]);
  return { iptablesSave, ipRule: hasIpRule(rules), ipRoute: routes.code === 0 && hasIpRoute(routes.stdout) };
}

/** iptables-save without comments (timestamps) and counters, for comparisons. */
export function comparableSave(save: string): string {
  return save.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '').map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');
}

/** Write the rules (replacing any of ours already there, e.g. a repeated ADD). */
export async function installCapture(netnsPath: string): Promise<void> {
  const before = await snapshot(netnsPath);
  const stale = buildRemovalScript(before.iptablesSave);
  if (stale) await mustRunInNetns(netnsPath, 'iptables-restore', ['-w', '5', '--noflush'], stale);
  await mustRunInNetns(netnsPath, 'iptables-restore', ['-w', '5', '--noflush'], buildInstallScript());
  if (!before.ipRule) await mustRunInNetns(netnsPath, 'ip', IP_RULE_ARGS);
  if (!before.ipRoute) await mustRunInNetns(netnsPath, 'ip', IP_ROUTE_ARGS);
}

/**
 * Remove everything of ours. With `restoreTo` (the state before a failed ADD), also drop the
 * iptables tables that only exist because we created them, so iptables-save matches again.
 * Returns what could not be removed (empty on success).
 */
export async function removeCapture(netnsPath: string, restoreTo?: NetnsState): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try { await fn(); } catch (err) { failures.push(`${what}: ${(err as Error).message}`); }
  };
  const now = await snapshot(netnsPath);
  const removal = buildRemovalScript(now.iptablesSave);
  if (removal) await attempt('iptables', () => mustRunInNetns(netnsPath, 'iptables-restore', ['-w', '5', '--noflush'], removal));
  if (now.ipRule && !restoreTo?.ipRule) await attempt('ip rule', () => mustRunInNetns(netnsPath, 'ip', IP_RULE_DEL_ARGS));
  if (now.ipRoute && !restoreTo?.ipRoute) await attempt('ip route', () => mustRunInNetns(netnsPath, 'ip', IP_ROUTE_DEL_ARGS));
  if (restoreTo) await attempt('iptables tables', () => dropTablesWeCreated(netnsPath, restoreTo.iptablesSave));
  return failures;
}

/** iptables-nft creates a table on first use; an empty one that was not there before goes. */
async function dropTablesWeCreated(netnsPath: string, beforeSave: string): Promise<void> {
  const before = parseSave(beforeSave);
  const afterSave = await mustRunInNetns(netnsPath, 'iptables-save', []);
  if (!afterSave.includes('nf_tables')) return; // legacy backend: tables always exist
  for (const [table, t] of parseSave(afterSave)) {
    if (before.has(table) || t.rules.length > 0) continue;
    const r = await runInNetns(netnsPath, 'nft', ['delete', 'table', 'ip', table]).catch(() => undefined);
    if (r && r.code !== 0) throw new AmbitError('AMBIT_E_NETNS', `nft delete table ip ${table}: ${r.stderr.trim()}`);
  }
}

/** What is missing from an installed capture; empty when complete. */
export async function checkCapture(netnsPath: string): Promise<string[]> {
  const s = await snapshot(netnsPath);
  const problems = diffInstalled(s.iptablesSave);
  if (!s.ipRule) problems.push(`ip rule "${IP_RULE_ARGS.slice(2).join(' ')}" missing`);
  if (!s.ipRoute) problems.push(`ip route "${IP_ROUTE_ARGS.slice(2).join(' ')}" missing`);
  return problems;
}

/** True when the netns state equals `before` (iptables rules, ip rule, ip route). */
export async function sameState(netnsPath: string, before: NetnsState): Promise<boolean> {
  const now = await snapshot(netnsPath);
  return comparableSave(now.iptablesSave) === comparableSave(before.iptablesSave) && now.ipRule === before.ipRule && now.ipRoute === before.ipRoute;
}
