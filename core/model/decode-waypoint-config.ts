// The one check of a WaypointConfig received from outside the process: the waypoint's config
// file and the controller's discovery stream both go through it. Enough for the waypoint not
// to trip over the shape; the message names the field.
import type { WaypointConfig } from './l7.js';

const isStr = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

const FIELDS: ReadonlyArray<[field: string, ok: (v: unknown) => boolean, what: string]> = [
  ['namespace', isStr, 'must be a non-empty string'],
  ['mesh', isObj, 'must be an object'],
  ['virtualHosts', Array.isArray, 'must be an array'],
  ['clusters', Array.isArray, 'must be an array'],
  ['authorizationPolicies', Array.isArray, 'must be an array'],
];

/** `value` as a WaypointConfig, or throws an Error `field <name>: <reason>`. */
export function decodeWaypointConfig(value: unknown): WaypointConfig {
  if (!isObj(value)) throw new Error('a WaypointConfig must be an object');
  const o = value as Record<string, unknown>;
  for (const [field, ok, what] of FIELDS) if (!ok(o[field])) throw new Error(`field ${field}: ${what}`);
  return value as WaypointConfig;
}
