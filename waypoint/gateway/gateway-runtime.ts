// An ingress or egress gateway's running state: on each config push it picks the Gateways
// that select this gateway, builds the shared L7 pipeline from their routes (through the
// waypoint's runtime, so a config that cannot be built is refused and the last good one
// keeps serving), loads the server certificates and opens or closes the server ports.
import type { Logger } from '../../core/log.js';
import type { GatewayConfig } from '../../core/model/l7.js';
import type { Workload } from '../../core/model/types.js';
import type { GatewayPolicies } from '../../core/xds/waypoint-source.js';
import type { WaypointRuntime } from '../runtime.js';
import type { GatewayCredentials } from './credentials.js';
import { pipelineConfig, portPlans, selects, type GatewaySelf, type PortPlan } from './gateway-config.js';
import type { GatewayListeners } from './listeners.js';

export interface GatewayRuntimeOptions {
  readonly self: GatewaySelf;
  readonly runtime: WaypointRuntime;
  readonly listeners: GatewayListeners;
  readonly credentials: GatewayCredentials;
  readonly log: Logger;
}

export class GatewayRuntime {
  private plans: readonly PortPlan[] = [];
  private selected: readonly string[] = [];
  /** Port changes are applied one after another, in push order. */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: GatewayRuntimeOptions) {}

  /** Applies a push; returns the problems (→ NACK). Ports open asynchronously after it returns. */
  apply(
    gateways: readonly GatewayConfig[],
    policies: GatewayPolicies | undefined,
    workloads: readonly Workload[] | undefined,
  ): string[] {
    const mine = gateways.filter((g) => selects(g, this.o.self.labels));
    const config = pipelineConfig(
      mine,
      policies ?? { mesh: undefined, authorizationPolicies: [], peerAuthentications: [] },
      this.o.self,
    );
    const problems = this.o.runtime.apply(config, workloads);
    if (problems.length > 0) return problems;
    const { plans, problems: portProblems } = portPlans(mine);
    for (const p of portProblems) this.o.log.warn('gateway server ignored', { reason: p });
    this.plans = plans;
    this.selected = mine.map((g) => g.key);
    this.o.log.info('gateway config applied', {
      gateways: this.selected,
      ports: plans.map((p) => `${p.port}/${p.kind}`),
      version: config.version,
    });
    const servers = plans.flatMap((p) => p.servers);
    this.applying = this.applying
      .then(() => this.o.credentials.load(servers))
      .then(() => this.o.listeners.apply(plans))
      .catch((err: unknown) => this.o.log.error('gateway ports not applied', { err: String(err) }));
    return [];
  }

  /** Resolves when the ports and certificates of the last push are in place. */
  settled(): Promise<void> {
    return this.applying.then(() => undefined);
  }

  dump(): { gateways: readonly string[]; ports: ReadonlyArray<{ port: number; kind: string; hosts: string[] }> } {
    return {
      gateways: this.selected,
      ports: this.plans.map((p) => ({ port: p.port, kind: p.kind, hosts: p.servers.flatMap((s) => s.hosts) })),
    };
  }
}
