// placeholder replaced below
import type { RunningMesh } from './up.js';
export async function startLive(_mesh: RunningMesh, _opts: { rate: number }): Promise<void> { /* filled in next */ }
