// The mesh settings from the controller's own `istio` ConfigMap (key `mesh`, Istio's
// MeshConfig YAML), as the source delivers it. A bad edit is refused with one clear log line
// and the last good settings stay in force; a deleted ConfigMap means the defaults again.
import type { Logger } from '../../core/log.js';
import type { MeshConfig } from '../../core/model/types.js';
import type { KubeObject } from '../sources/types.js';
import { meshConfigFrom } from '../translate/mesh-config.js';

export class MeshSettingsTracker {
  private lastGood: Partial<MeshConfig> = {};
  /** resourceVersion (or content) of the ConfigMap last looked at, so each edit is judged once. */
  private seen: string | undefined;

  constructor(
    private readonly ref: { readonly namespace: string; readonly name: string },
    private readonly trustDomain: string,
    private readonly log: Logger,
  ) {}

  /** The settings in force for this object set. */
  current(objects: readonly KubeObject[]): Partial<MeshConfig> {
    const cm = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === this.ref.name && o.metadata.namespace === this.ref.namespace,
    );
    const key = cm ? `${cm.metadata.resourceVersion ?? ''}:${JSON.stringify(cm.data ?? {})}` : 'absent';
    if (key === this.seen) return this.lastGood;
    this.seen = key;
    const where = `ConfigMap ${this.ref.namespace}/${this.ref.name}`;
    if (!cm) {
      if (Object.keys(this.lastGood).length > 0)
        this.log.info('mesh ConfigMap removed; using the default mesh settings', { configMap: where });
      this.lastGood = {};
      return this.lastGood;
    }
    const { mesh, issues } = meshConfigFrom(cm);
    if (!issues.empty) {
      const problems = issues.list.map((i) => `${i.field}: ${i.reason}`);
      this.log.warn('mesh settings rejected; the last good settings stay in force', { configMap: where, problems });
      return this.lastGood;
    }
    if (mesh.trustDomain !== undefined && mesh.trustDomain !== this.trustDomain) {
      this.log.warn(
        "mesh trustDomain differs from the CA's; the CA's is used (set it with the chart's global.trustDomain)",
        {
          configMap: where,
          meshTrustDomain: mesh.trustDomain,
          trustDomain: this.trustDomain,
        },
      );
    }
    this.lastGood = mesh;
    this.log.info('mesh settings applied', { configMap: where, settings: Object.keys(mesh) });
    return mesh;
  }
}
