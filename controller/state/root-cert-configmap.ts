// Kube mode: the CA root, published as ConfigMap `ambit-ca-root-cert` (key `root-cert.pem`),
// as Istio publishes `istio-ca-root-cert`: in the controller's namespace (the agents mount
// it) and in every namespace that has a waypoint (the waypoints mount it). Agents and
// waypoints verify the controller with it. Failures are logged and retried on the next pass.
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { KubeObject } from '../sources/types.js';
import { isWaypointGateway } from '../waypoints/desired.js';
import type { Manifest, WaypointKubeClient } from '../waypoints/index.js';

export const ROOT_CERT_CONFIGMAP = 'ambit-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';

export class RootCertPublisher {
  private readonly published = new Set<string>();
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: WaypointKubeClient,
    private readonly rootsPem: string,
    private readonly homeNamespace: string,
    private readonly log: Logger,
  ) {}

  /** Publish in the home namespace now, retrying with backoff until it is done. */
  start(delayMs = 500): void {
    this.running = this.running.then(async () => {
      if (this.closed || (await this.ensure(this.homeNamespace))) return;
      this.timer = setTimeout(() => this.start(Math.min(delayMs * 2, 30_000)), delayMs);
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** After each translation: the namespaces of waypoint Gateways get the root too. */
  update(objects: readonly KubeObject[]): void {
    const wanted = new Set([
      this.homeNamespace,
      ...objects.filter((o) => isWaypointGateway(o)).map((o) => o.metadata.namespace ?? 'default'),
    ]);
    const missing = [...wanted].filter((ns) => !this.published.has(ns));
    if (missing.length === 0) return;
    this.running = this.running.then(async () => {
      for (const ns of missing) await this.ensure(ns);
    });
  }

  /** Waits for the publications under way (tests). */
  settled(): Promise<void> {
    return this.running;
  }

  private async ensure(namespace: string): Promise<boolean> {
    if (this.published.has(namespace)) return true;
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: ROOT_CERT_CONFIGMAP };
    try {
      const current = await this.client.get(ref);
      const want: Manifest = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: ROOT_CERT_CONFIGMAP,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'ambit-controller' },
        },
        data: { [ROOT_CERT_KEY]: this.rootsPem },
      } as Manifest;
      if (!current) {
        try {
          await this.client.create(want);
          this.log.info('published the CA root', { configMap: `${namespace}/${ROOT_CERT_CONFIGMAP}` });
        } catch (err) {
          // Another controller replica created it first: check it on the next pass, quietly.
          if (isConflict(err)) return false;
          throw err;
        }
      } else if ((current as { data?: Record<string, string> }).data?.[ROOT_CERT_KEY] !== this.rootsPem) {
        await this.client.replace({
          ...want,
          metadata: { ...want.metadata, resourceVersion: current.metadata.resourceVersion },
        } as Manifest);
        this.log.info('updated the published CA root', { configMap: `${namespace}/${ROOT_CERT_CONFIGMAP}` });
      }
      this.published.add(namespace);
      return true;
    } catch (err) {
      this.log.warn('cannot publish the CA root; retrying on the next change', {
        configMap: `${namespace}/${ROOT_CERT_CONFIGMAP}`,
        err: describeError(err),
      });
      return false;
    }
  }
}

function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { status?: unknown }).status === 409;
}
