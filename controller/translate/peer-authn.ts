// PeerAuthentication → the model: mtls mode (UNSET when absent: inherit from the parent
// level) and per-port modes. Precedence (workload > namespace > mesh) is applied by
// core/authz effectiveMtlsMode from the scope recorded here.
import { byKey, compact, rec, str } from './raw.js';
import { scopeOf } from './authz.js';
import type { KubeObject } from '../sources/types.js';
import type { MtlsMode, PeerAuthentication } from '../../core/model/types.js';

export function translatePeerAuthentication(obj: KubeObject, rootNamespace: string): PeerAuthentication {
  const spec = rec(obj.spec) ?? {};
  const ns = obj.metadata.namespace ?? 'default';
  const portLevel: Record<number, MtlsMode> = {};
  for (const [port, setting] of Object.entries(rec(spec.portLevelMtls) ?? {})) {
    portLevel[Number(port)] = (str(rec(setting)?.mode) ?? 'UNSET') as MtlsMode;
  }
  return compact({
    key: `${ns}/${obj.metadata.name}`,
    name: obj.metadata.name,
    scope: scopeOf(obj, rootNamespace),
    mode: (str(rec(spec.mtls)?.mode) ?? 'UNSET') as MtlsMode,
    portLevel: Object.keys(portLevel).length > 0 ? portLevel : undefined,
  });
}

export function buildPeerAuthentications(objs: readonly KubeObject[], rootNamespace: string): PeerAuthentication[] {
  return objs.map((o) => translatePeerAuthentication(o, rootNamespace)).sort(byKey((p) => p.key));
}
