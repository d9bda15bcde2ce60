// Process-wide stream settings for processes that relay HBONE (agent, waypoint, benches).
// HTTP/2 streams take no per-stream high-water mark, so the default is raised for the
// process: measured on hbone-2proc, 4.06 → 3.67 CPU s/GB and 1.78 → 2.23 Gbit/s.
import { setDefaultHighWaterMark } from 'node:stream';

export const RELAY_HIGH_WATER_MARK = 256 * 1024;

let applied = false;

export function applyRelayTuning(): void {
  if (applied) return;
  applied = true;
  setDefaultHighWaterMark(false, RELAY_HIGH_WATER_MARK);
}
