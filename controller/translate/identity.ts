// SPIFFE ids as the translator writes them (core/identity owns parsing; this is the format).
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

// Host matching lives in core/mesh/hosts.ts; re-exported for importers not yet moved.
export { hostMatches, hostMatchRank, resolveHost } from '../../core/mesh/hosts.js';
