// Where an agent or waypoint gets its mesh model from: a file (local and test modes) or the
// controller's discovery service. Both implement this, so the consumer does not care which.
import type { MeshSnapshot } from '../model/types.js';

export interface ConfigSource {
  /**
   * Start delivering snapshots. `onSnapshot` returns the list of problems it found applying
   * the snapshot (empty = applied); a discovery source turns a non-empty list into a NACK.
   */
  start(onSnapshot: (snapshot: MeshSnapshot) => readonly string[]): Promise<void>;
  stop(): Promise<void>;
}
