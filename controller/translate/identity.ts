// SPIFFE ids as the translator writes them (core/identity owns parsing; this is the format).
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
