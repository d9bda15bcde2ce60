// DestinationRule TLS without CA certificates (IST0128, IST0129), ServiceEntry addresses
// (IST0134), Istio Gateways: ports the selected workloads' Services do not expose (IST0104),
// selectors that match nothing (IST0101), and conflicting servers (IST0145).
import { destinationRule, gateway, serviceEntry } from '../../core/crds/networking.js';
import { serviceBody } from '../../core/crds/kubernetes.js';
import type { DestinationRuleSpec, GatewaySpec } from '../../core/crds/types.js';
import type { IstioObject } from '../translate/decode-object.js';
import { AnalysisContext, labelText, nsOf } from './context.js';
import { MSG } from './messages.js';

const NET = 'networking.istio.io';
type DrPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>;
type ClientTls = NonNullable<DrPolicy['tls']>;

/** The TLS mode (SIMPLE or MUTUAL) of settings that verify no server certificate. */
const needsCa = (tls: ClientTls | undefined): string | undefined => {
  const mode = tls?.mode;
  if (!tls || (mode !== 'SIMPLE' && mode !== 'MUTUAL')) return undefined;
  if (tls.caCertificates || tls.credentialName || tls.insecureSkipVerify === true) return undefined;
  return mode;
};

export function analyzeDestinationRules(ctx: AnalysisContext): void {
  for (const dr of ctx.istio('DestinationRule', NET, destinationRule)) {
    const { spec } = dr;
    const host = spec.host;
    const ns = nsOf(dr);
    const check = (tp: DrPolicy | undefined, at: string): void => {
      const mode = needsCa(tp?.tls);
      if (mode) {
        ctx.report(
          MSG.NoServerCertificateVerificationDestinationLevel,
          dr,
          `DestinationRule ${dr.metadata.name} in namespace ${ns} has TLS mode set to ${mode} ` +
            'but no caCertificates are set to ' +
            `validate server identity for host: ${host}`,
          `${at}.tls`,
        );
      }
      (tp?.portLevelSettings ?? []).forEach((pl, i) => {
        const m = needsCa(pl.tls);
        if (!m) return;
        ctx.report(
          MSG.NoServerCertificateVerificationPortLevel,
          dr,
          `DestinationRule ${dr.metadata.name} in namespace ${ns} has TLS mode set to ${m} ` +
            'but no caCertificates are set to ' +
            `validate server identity for host: ${host} at port ${pl.port?.number ?? ''}`,
          `${at}.portLevelSettings[${i}].tls`,
        );
      });
    };
    check(spec.trafficPolicy, 'spec.trafficPolicy');
    (spec.subsets ?? []).forEach((s, i) => check(s.trafficPolicy, `spec.subsets[${i}].trafficPolicy`));
  }
}

export function analyzeServiceEntries(ctx: AnalysisContext): void {
  for (const se of ctx.istio('ServiceEntry', NET, serviceEntry)) {
    const { spec } = se;
    if ((spec.addresses ?? []).length > 0) continue;
    (spec.ports ?? []).forEach((p, i) => {
      const protocol = (p.protocol ?? '').toUpperCase();
      if (protocol !== '' && protocol !== 'TCP') return;
      ctx.report(
        MSG.ServiceEntryAddressesRequired,
        se,
        'ServiceEntry addresses are required for this protocol. (Ambit allocates one from 240.240.0.0/16 meanwhile.)',
        `spec.ports[${i}].protocol`,
      );
    });
  }
}

function servicePortsOf(
  ctx: AnalysisContext,
  pods: readonly { namespace: string; labels: Readonly<Record<string, string>> }[],
): Set<number> {
  const ports = new Set<number>();
  for (const svc of ctx.kube('Service', serviceBody)) {
    const sel = svc.spec?.selector ?? {};
    if (Object.keys(sel).length === 0) continue;
    const selects = pods.some(
      (p) => p.namespace === nsOf(svc) && Object.entries(sel).every(([k, v]) => p.labels[k] === v),
    );
    if (!selects) continue;
    for (const p of svc.spec?.ports ?? []) {
      ports.add(p.port);
      if (typeof p.targetPort === 'number') ports.add(p.targetPort);
    }
  }
  return ports;
}

export function analyzeGateways(ctx: AnalysisContext): void {
  const gateways = ctx.istio('Gateway', NET, gateway);
  for (const gw of gateways) {
    const sel = gw.spec.selector ?? {};
    // Istio's default: a Gateway selects workloads in every namespace.
    const pods = ctx.workloads.filter((w) => Object.entries(sel).every(([k, v]) => w.labels[k] === v));
    if (pods.length === 0) {
      ctx.report(
        MSG.ReferencedResourceNotFound,
        gw,
        `Referenced selector not found: "${labelText(sel)}"`,
        'spec.selector',
      );
      continue;
    }
    const ports = servicePortsOf(ctx, pods);
    (gw.spec.servers ?? []).forEach((s, i) => {
      const n = s.port.number;
      if (!ports.has(n)) {
        ctx.report(
          MSG.GatewayPortNotDefinedOnService,
          gw,
          'The gateway refers to a port that is not exposed on the workload ' +
            `(pod selector ${labelText(sel)}; port ${n})`,
          `spec.servers[${i}].port.number`,
        );
      }
    });
  }
  // IST0145: same selector, same port, a host in common, different Gateways.
  const keyOf = (gw: IstioObject<GatewaySpec>): string => labelText(gw.spec.selector ?? {});
  for (const gw of gateways) {
    for (const other of gateways) {
      if (other === gw || keyOf(other) !== keyOf(gw)) continue;
      for (const s of gw.spec.servers ?? []) {
        const port = s.port.number;
        for (const o of other.spec.servers ?? []) {
          if (o.port.number !== port) continue;
          const common = s.hosts.filter((h) => o.hosts.includes(h));
          if (common.length === 0) continue;
          ctx.report(
            MSG.ConflictingGateways,
            gw,
            `Conflict with gateways ${nsOf(other)}/${other.metadata.name} ` +
              `(workload selector ${keyOf(gw)}, port ${port}, ` +
              `hosts ${common.join(', ')}).`,
            'spec.servers',
          );
        }
      }
    }
  }
}
