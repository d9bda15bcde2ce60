// A content-derived version for the gateway's pipeline config: the same inputs give the same version.
import { createHash } from 'node:crypto';

export function contentVersion(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
