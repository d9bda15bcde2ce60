// jose (JWT and JWKS) is loaded the first time a config has a JWT rule, not when the waypoint
// starts: a waypoint without RequestAuthentication never holds it. It is required (Node ≥ 20.19
// loads an ES module synchronously) so that building a config stays synchronous: a config that
// cannot be built is still refused at once, and the request path never waits for a module.
import { createRequire } from 'node:module';
import type * as Jose from 'jose';

let loaded: typeof Jose | undefined;

export function jose(): typeof Jose {
  loaded ??= createRequire(import.meta.url)('jose') as typeof Jose;
  return loaded;
}
