// Node's header records and the ABI's header pairs, both ways (headers and trailers alike).
import type { HeaderPairs } from './abi.js';

export type Headers = Record<string, string | string[]>;

export function headerPairs(headers: Headers): HeaderPairs {
  const out: HeaderPairs = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push([k, String(one)]);
  }
  return out;
}

/** Makes `target` hold exactly `pairs` (repeated names become lists). */
export function replaceHeaders(target: Headers, pairs: HeaderPairs): void {
  const next: Headers = {};
  for (const [k, v] of pairs) {
    const prior = next[k];
    next[k] = prior === undefined ? v : [...(Array.isArray(prior) ? prior : [prior]), v];
  }
  for (const k of Object.keys(target)) if (!(k in next)) delete target[k];
  Object.assign(target, next);
}
