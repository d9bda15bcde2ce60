// DestinationRule TLS without CA certificates (IST0128, IST0129), ServiceEntry addresses
// (IST0134), Istio Gateways: ports the selected workloads' Services do not expose (IST0104),
// selectors that match nothing (IST0101), and conflicting servers (IST0145).
import type { KubeObject } from '../sources/types.js';
import { AnalysisContext, labelText, nsOf, rec, recs, specOf, str, stringMap } from './context.js';
import { MSG } from './messages.js';
import { strs } from '../translate/raw.js';

const needsCa = (tls: Record<string, unknown> | undefined): string | undefined => {
  const mode = str(tls?.mode);
  if (!tls || (mode !== 'SIMPLE' && mode !== 'MUTUAL')) return undefined;
  if (str(tls.caCertificates) || str(tls.credentialName) || tls.insecureSkipVerify === true) return undefined;
  return mode;
};

export function analyzeDestinationRules(ctx: AnalysisContext): void {
  for (const dr of ctx.of('DestinationRule', 'networking.istio.io')) {
    const spec = specOf(dr);
    const host = str(spec.host) ?? '';
    const ns = nsOf(dr);
    const check = (tp: Record<string, unknown> | undefined, at: string): void => {
      const mode = needsCa(rec(tp?.tls));
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
      recs(tp?.portLevelSettings).forEach((pl, i) => {
        const m = needsCa(rec(pl.tls));
        if (!m) return;
        ctx.report(
          MSG.NoServerCertificateVerificationPortLevel,
          dr,
          `DestinationRule ${dr.metadata.name} in namespace ${ns} has TLS mode set to ${m} ` +
            'but no caCertificates are set to ' +
            `validate server identity for host: ${host} at port ${String(rec(pl.port)?.number ?? '')}`,
          `${at}.portLevelSettings[${i}].tls`,
        );
      });
    };
    check(rec(spec.trafficPolicy), 'spec.trafficPolicy');
    recs(spec.subsets).forEach((s, i) => check(rec(s.trafficPolicy), `spec.subsets[${i}].trafficPolicy`));
  }
}

export function analyzeServiceEntries(ctx: AnalysisContext): void {
  for (const se of ctx.of('ServiceEntry', 'networking.istio.io')) {
    const spec = specOf(se);
    if (strs(spec.addresses).length > 0) continue;
    recs(spec.ports).forEach((p, i) => {
      const protocol = (str(p.protocol) ?? '').toUpperCase();
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
  for (const svc of ctx.of('Service')) {
    const sel = stringMap(specOf(svc).selector);
    if (Object.keys(sel).length === 0) continue;
    const selects = pods.some(
      (p) => p.namespace === nsOf(svc) && Object.entries(sel).every(([k, v]) => p.labels[k] === v),
    );
    if (!selects) continue;
    for (const p of recs(specOf(svc).ports)) {
      if (typeof p.port === 'number') ports.add(p.port);
      if (typeof p.targetPort === 'number') ports.add(p.targetPort);
    }
  }
  return ports;
}

export function analyzeGateways(ctx: AnalysisContext): void {
  const gateways = ctx.of('Gateway', 'networking.istio.io');
  for (const gw of gateways) {
    const sel = stringMap(specOf(gw).selector);
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
    recs(specOf(gw).servers).forEach((s, i) => {
      const n = rec(s.port)?.number;
      if (typeof n === 'number' && !ports.has(n)) {
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
  const keyOf = (gw: KubeObject): string => labelText(stringMap(specOf(gw).selector));
  for (const gw of gateways) {
    for (const other of gateways) {
      if (other === gw || keyOf(other) !== keyOf(gw)) continue;
      for (const s of recs(specOf(gw).servers)) {
        const port = rec(s.port)?.number;
        for (const o of recs(specOf(other).servers)) {
          if (rec(o.port)?.number !== port) continue;
          const common = strs(s.hosts).filter((h) => strs(o.hosts).includes(h));
          if (common.length === 0) continue;
          ctx.report(
            MSG.ConflictingGateways,
            gw,
            `Conflict with gateways ${nsOf(other)}/${other.metadata.name} ` +
              `(workload selector ${keyOf(gw)}, port ${String(port)}, ` +
              `hosts ${common.join(', ')}).`,
            'spec.servers',
          );
        }
      }
    }
  }
}
