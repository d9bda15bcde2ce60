// Passive health checking (DestinationRule outlierDetection), Envoy's semantics:
// - an endpoint is ejected as soon as it returns `consecutive5xxErrors` 5xx answers (or
//   `consecutiveGatewayErrors` 502/503/504, or local connect failures) in a row;
// - it stays out for baseEjectionTime × (times ejected), so a flapping endpoint stays out
//   longer each time; it is brought back by the sweep that runs every `interval`;
// - each sweep in which a back-in endpoint stays healthy lowers its multiplier again;
// - an ejection happens only while ejected/total stays within maxEjectionPercent (Envoy
//   counts the candidate: with the default 10%, fewer than 10 endpoints means none is
//   ejected, a well-known Istio surprise);
// - the ejection time is capped at max(300 s, baseEjectionTime), Envoy's max_ejection_time.
import type { OutlierDetection } from '../../core/model/l7.js';

export interface OutlierState {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejections: number;
  ejectedUntil: number;
}

export function newOutlierState(): OutlierState {
  return { consecutive5xx: 0, consecutiveGateway: 0, ejections: 0, ejectedUntil: 0 };
}

export interface OutlierSettings {
  readonly consecutive5xx: number;
  readonly consecutiveGateway: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionPercent: number;
}

export function outlierSettings(o: OutlierDetection | undefined): OutlierSettings | undefined {
  if (!o) return undefined;
  return {
    // Istio's defaults when outlierDetection is present but a field is not.
    // Envoy keeps its consecutive_5xx default (5) unless the field is set; 0 turns it off.
    consecutive5xx: o.consecutive5xxErrors ?? 5,
    consecutiveGateway: o.consecutiveGatewayErrors ?? 0,
    intervalMs: o.intervalMs ?? 10_000,
    baseEjectionMs: o.baseEjectionTimeMs ?? 30_000,
    maxEjectionPercent: o.maxEjectionPercent ?? 10,
  };
}

const MAX_EJECTION_MS = 300_000;

export function isEjected(state: OutlierState, now: number): boolean {
  return state.ejectedUntil > now;
}

/**
 * Records one answer (status 0 = connect failure / reset) and says whether the endpoint
 * must now be ejected. `ejectedCount` and `total` enforce maxEjectionPercent.
 */
export function recordResult(
  state: OutlierState,
  settings: OutlierSettings,
  status: number,
  now: number,
  ejectedCount: number,
  total: number,
): boolean {
  const gatewayError = status === 0 || status === 502 || status === 503 || status === 504;
  if (status === 0 || status >= 500) {
    state.consecutive5xx++;
    if (gatewayError) state.consecutiveGateway++;
  } else {
    state.consecutive5xx = 0;
    state.consecutiveGateway = 0;
    return false;
  }
  const tripped =
    (settings.consecutive5xx > 0 && state.consecutive5xx >= settings.consecutive5xx) ||
    (settings.consecutiveGateway > 0 && state.consecutiveGateway >= settings.consecutiveGateway);
  if (!tripped || isEjected(state, now)) return false;
  if ((100 * (ejectedCount + 1)) / total > settings.maxEjectionPercent) return false;
  state.ejections++;
  state.ejectedUntil =
    now + Math.min(settings.baseEjectionMs * state.ejections, Math.max(MAX_EJECTION_MS, settings.baseEjectionMs));
  state.consecutive5xx = 0;
  state.consecutiveGateway = 0;
  return true;
}

/** The periodic sweep: endpoints whose time is up come back; healthy ones earn trust back. */
export function sweep(states: Iterable<OutlierState>, now: number): number {
  let returned = 0;
  for (const s of states) {
    if (s.ejectedUntil !== 0 && s.ejectedUntil <= now) {
      s.ejectedUntil = 0;
      returned++;
    } else if (s.ejectedUntil === 0 && s.ejections > 0 && s.consecutive5xx === 0) {
      s.ejections--;
    }
  }
  return returned;
}
