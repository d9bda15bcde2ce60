// File mode for a gateway: a JSON or YAML file `{ gateways: [GatewayConfig…],
// authorizationPolicies?: […], peerAuthentications?: [], mesh?: {…} }`, re-read when it
// changes. Each GatewayConfig gets the same check as one received over discovery; a bad file
// is reported and the last good one keeps serving, a bad first file stops the start.
import { WatchedFile } from '../../core/config/file-watch.js';
import { parseJsonOrYaml } from '../../core/config/json-or-yaml.js';
import { AmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { GatewayConfig } from '../../core/model/l7.js';
import type { AuthorizationPolicy, MeshConfig, PeerAuthentication } from '../../core/model/types.js';
import { decodeResource, TYPE_GATEWAY_CONFIG } from '../../core/xds/resources.js';
import type { GatewayPolicies, WaypointConfigHandler, WaypointConfigSource } from '../../core/xds/waypoint-source.js';

export interface GatewayFile {
  readonly gateways: readonly GatewayConfig[];
  readonly policies: GatewayPolicies;
}

const list = (v: unknown, field: string, file: string): unknown[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AmbitError('AMBIT_E_CONFIG', `${file}: ${field}: must be a list`);
  return v;
};

export function decodeGatewayFile(text: string, file: string): GatewayFile {
  let doc: unknown;
  try {
    doc = parseJsonOrYaml(text);
  } catch (err) {
    throw new AmbitError('AMBIT_E_CONFIG', `${file}: not JSON or YAML: ${(err as Error).message}`, { cause: err });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new AmbitError('AMBIT_E_CONFIG', `${file}: must be an object with a gateways list`);
  const d = doc as Record<string, unknown>;
  const gateways = list(d.gateways, 'gateways', file).map((g, i) => {
    try {
      return decodeResource(TYPE_GATEWAY_CONFIG, `gateways[${i}]`, JSON.stringify(g)) as GatewayConfig;
    } catch (err) {
      throw new AmbitError('AMBIT_E_CONFIG', `${file}: ${(err as Error).message}`, { cause: err });
    }
  });
  return {
    gateways,
    policies: {
      mesh: d.mesh && typeof d.mesh === 'object' ? (d.mesh as MeshConfig) : undefined,
      authorizationPolicies: list(d.authorizationPolicies, 'authorizationPolicies', file) as AuthorizationPolicy[],
      peerAuthentications: list(d.peerAuthentications, 'peerAuthentications', file) as PeerAuthentication[],
    },
  };
}

export class FileGatewaySource implements WaypointConfigSource {
  private readonly watched: WatchedFile<GatewayFile>;

  constructor(file: string, log: Logger) {
    this.watched = new WatchedFile(file, (text) => decodeGatewayFile(text, file), {
      log,
    });
  }

  start(onConfig: WaypointConfigHandler): Promise<void> {
    return this.watched.start((f) => onConfig(undefined, f.gateways, undefined, f.policies));
  }

  stop(): Promise<void> {
    return this.watched.stop();
  }
}
