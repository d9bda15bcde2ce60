// A CUSTOM policy on a provider Ambit cannot call is never a silent deny: the waypoint
// denies what the policy matches and logs why, once per provider.
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../core/log.js';
import { httpExtAuthz } from './ext-authz.js';
import type { RequestContext } from './context.js';

function recordingLogger(): { log: Logger; warnings: { msg: string; fields?: Record<string, unknown> }[] } {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = {
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: (msg, fields) => {
      warnings.push({ msg, ...(fields ? { fields } : {}) });
    },
    child: () => log,
  };
  return { log, warnings };
}

describe('httpExtAuthz', () => {
  it('denies for a gRPC provider, logging the provider and the reason once', async () => {
    const { log, warnings } = recordingLogger();
    const reason = 'envoyExtAuthzGrpc cannot serve as an ext-authz provider in Ambit (only envoyExtAuthzHttp)';
    const check = httpExtAuthz([{ name: 'grpc-authz', unsupported: reason }], log);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await check('grpc-authz', {} as RequestContext);
        expect(r.allowed).toBe(false);
        expect(r.status).toBe(403);
      }
      expect(warnings).toEqual([
        {
          msg: 'CUSTOM policy names an ext-authz provider Ambit cannot call; denying what it matches',
          fields: { provider: 'grpc-authz', reason },
        },
      ]);
      await check('missing', {} as RequestContext);
      expect(warnings.at(-1)?.msg).toMatch(/unknown ext-authz provider/);
    } finally {
      check.close();
    }
  });
});
