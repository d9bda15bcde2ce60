// Fault injection of the matched route: delay first, then abort, each with its percentage
// (absent percentage = every request), as Envoy's fault filter does.
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

export type Random = () => number;

function hit(percentage: number, random: Random): boolean {
  return percentage >= 100 || random() * 100 < percentage;
}

export function faultFilter(random: Random = Math.random): HttpFilter {
  return {
    name: 'fault',
    async onRequest(ctx: RequestContext): Promise<FilterResult> {
      const fault = ctx.route?.route.fault;
      if (!fault) return undefined;
      if (fault.delay && hit(fault.delay.percentage, random)) {
        await new Promise((resolve) => setTimeout(resolve, fault.delay!.fixedDelayMs));
        ctx.delayedMs = fault.delay.fixedDelayMs;
      }
      if (fault.abort && hit(fault.abort.percentage, random)) return replies.faultAbort(fault.abort.httpStatus);
      return undefined;
    },
  };
}
