// Network-namespace tests need root on Linux. Locally they skip with a clear message; in CI
// (CI=true) a skip is a failure, so missing privileges cannot hide a broken data path.
import { describe } from 'vitest';

export function canUseNetns(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux')
    return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return { ok: false, reason: 'network namespace tests need root (run as root or under `unshare -r`)' };
  return { ok: true };
}

/** `describe` for suites that need real network namespaces and iptables. */
export function describeNetns(name: string, body: () => void): void {
  const check = canUseNetns();
  if (check.ok) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      throw new Error(`${name}: cannot run in CI: ${check.reason}`);
    });
    return;
  }
  console.warn(`skipping "${name}": ${check.reason}`);
  describe.skip(name, body);
}
