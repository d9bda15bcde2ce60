// PeerAuthentication → the model: mtls mode (UNSET when absent: inherit from the parent
// level) and per-port modes. Precedence (workload > namespace > mesh) is applied by
// core/authz effectiveMtlsMode from the scope recorded here.
import { byKey, compact } from './collections.js';
import { scopeOf } from './authz.js';
import type { IstioObject } from './decode-object.js';
import type { PeerAuthenticationSpec } from '../../core/crds/types.js';
import type { MtlsMode, PeerAuthentication } from '../../core/model/types.js';

export function translatePeerAuthentication(
  obj: IstioObject<PeerAuthenticationSpec>,
  rootNamespace: string,
): PeerAuthentication {
  const { spec } = obj;
  const ns = obj.metadata.namespace ?? 'default';
  const portLevel: Record<number, MtlsMode> = {};
  for (const [port, setting] of Object.entries(spec.portLevelMtls ?? {}))
    portLevel[Number(port)] = setting.mode ?? 'UNSET';
  return compact({
    key: `${ns}/${obj.metadata.name}`,
    name: obj.metadata.name,
    scope: scopeOf(obj, rootNamespace),
    mode: spec.mtls?.mode ?? 'UNSET',
    portLevel: Object.keys(portLevel).length > 0 ? portLevel : undefined,
  });
}

export function buildPeerAuthentications(
  objs: readonly IstioObject<PeerAuthenticationSpec>[],
  rootNamespace: string,
): PeerAuthentication[] {
  return objs.map((o) => translatePeerAuthentication(o, rootNamespace)).sort(byKey((p) => p.key));
}
