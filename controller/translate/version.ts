// Content-derived versions: the same config always gets the same version, so the discovery
// server can skip pushes that change nothing.
import { createHash } from 'node:crypto';

export function contentVersionOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
