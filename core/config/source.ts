// Where a component gets its configuration from: a file (local and test modes) or the
// controller's discovery service. Both implement this, so the consumer does not care which.
// `T` is the model: the agent's MeshSnapshot (the default), the waypoint's WaypointConfig.
import type { MeshSnapshot } from '../model/types.js';

export interface ConfigSource<T = MeshSnapshot> {
  /**
   * Start delivering values. `onValue` returns the list of problems it found applying the
   * value (empty = applied); a discovery source turns a non-empty list into a NACK.
   */
  start(onValue: (value: T) => readonly string[]): Promise<void>;
  stop(): Promise<void>;
}
