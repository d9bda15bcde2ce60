// ObjectSource over the Kubernetes API: one reflector (list + watch) per watched kind,
// SYNCED once every kind has finished its first list. Connection settings come from the
// in-cluster service account or KUBECONFIG (@kubernetes/client-node KubeConfig).
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../core/log.js';
import type { ObjectSource, SourceEvent, KubeObject } from './types.js';
import { KubeApi } from './kube-api.js';
import { WATCHED_KINDS, type KindSpec } from './kube-kinds.js';
import { DEFAULT_TIMING, Reflector, type ReflectorTiming } from './kube-reflector.js';

export interface KubeSourceOptions {
  /** Default: in-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config. */
  kubeConfig?: KubeConfig;
  kinds?: readonly KindSpec[];
  timing?: Partial<ReflectorTiming>;
  log?: Logger;
}

/**
 * In a pod (the kubelet sets KUBERNETES_SERVICE_HOST) without a kubeconfig: the service
 * account; elsewhere: the kubeconfig file, or KUBECONFIG / ~/.kube/config. The controller
 * passes its settings (controller/settings.ts); the defaults read the environment.
 */
export function loadKubeConfig(
  opts: { inCluster?: boolean; kubeconfig?: string } = {
    inCluster: process.env.KUBERNETES_SERVICE_HOST !== undefined,
    kubeconfig: process.env.KUBECONFIG,
  },
): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else if (opts.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export class KubeSource implements ObjectSource {
  private readonly reflectors: Reflector[] = [];
  private readonly runs: Promise<void>[] = [];
  private readonly log: Logger;
  private readonly kinds: readonly KindSpec[];

  constructor(private readonly opts: KubeSourceOptions = {}) {
    this.log = opts.log ?? createLogger('kube-source');
    this.kinds = opts.kinds ?? WATCHED_KINDS;
  }

  async start(onEvent: (event: SourceEvent) => void): Promise<void> {
    const api = new KubeApi(this.opts.kubeConfig ?? loadKubeConfig());
    const timing = { ...DEFAULT_TIMING, ...this.opts.timing };
    let pending = this.kinds.length;
    const emit = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void => onEvent({ type, object });
    for (const spec of this.kinds) {
      const reflector = new Reflector(
        spec,
        api,
        {
          upsert: (obj, type) => emit(type, obj),
          remove: (obj) => emit('DELETED', obj),
          synced: () => {
            if (--pending === 0) onEvent({ type: 'SYNCED' });
          },
        },
        this.log,
        timing,
      );
      this.reflectors.push(reflector);
      this.runs.push(
        reflector.run().catch((err: unknown) => {
          this.log.error('reflector stopped', { kind: spec.kind, err: String(err) });
        }),
      );
    }
  }

  /** Per-kind counters (lists, watches, 410s, errors, bookmarks) and served version. */
  stats(): Array<{ kind: string; group: string; version: string | undefined } & Reflector['stats']> {
    return this.reflectors.map((r, i) => ({
      kind: this.kinds[i]!.kind,
      group: this.kinds[i]!.group,
      version: r.servedVersion,
      ...r.stats,
    }));
  }

  async stop(): Promise<void> {
    for (const r of this.reflectors) r.stop();
    await Promise.all(this.runs);
    this.reflectors.length = 0;
    this.runs.length = 0;
  }
}
