// Istio's host names as users write them in VirtualServices, DestinationRules, Gateways,
// Sidecars and ServiceEntries: short names completed to FQDNs, `*` and `*.suffix` wildcards.

/** Short host → FQDN in `namespace` (Istio: names without a dot get `.<ns>.svc.<domain>`). */
export function resolveHost(host: string, namespace: string, domain = 'cluster.local'): string {
  if (host === '*' || host.startsWith('*.') || host.includes('.')) return host.replace(/\.$/, '');
  return `${host}.${namespace}.svc.${domain}`;
}

/** Istio host matching: exact, `*` or `*.suffix` on either side. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) {
    return host.endsWith(pattern.slice(1)) || (host.startsWith('*.') && host.endsWith(pattern.slice(1)));
  }
  if (host.startsWith('*.')) return pattern.endsWith(host.slice(1));
  return false;
}

/** How specific a match is: exact beats longer wildcard beats shorter wildcard beats `*`. */
export function hostMatchRank(pattern: string, host: string): number {
  if (pattern === host) return 1_000_000;
  if (pattern === '*') return 0;
  return pattern.length;
}
