// Gateway API status write-back in kube mode (desired.ts: what; writer.ts: when).
//   const status = createKubeStatusWriter(kc, log);   after every change: status.update(objects);   on stop: status.close();
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.js';
import { restStatusClient } from './kube-status-client.js';
import { StatusWriter } from './writer.js';

export { StatusWriter, StatusWriteError, type StatusClient } from './writer.js';
export { desiredStatuses, MESH_CONTROLLER, GATEWAY_CONTROLLER, type StatusTarget } from './desired.js';

export function createKubeStatusWriter(kc: KubeConfig, log?: Logger): StatusWriter {
  return new StatusWriter({ client: restStatusClient(kc), ...(log ? { log } : {}) });
}
