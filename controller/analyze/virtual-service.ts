// VirtualService analyzers: references (IST0101), hosts not in the bound Gateway (IST0132),
// conflicting mesh hosts (IST0109), unreachable rules and ineffective matches (IST0130/0131).
import { hostMatches, resolveHost } from '../../core/mesh/hosts.js';
import * as net from '../../core/crds/networking.js';
import { AnalysisContext, nsOf } from './context.js';
import { MSG } from './messages.js';
import type { GatewaySpec } from '../../core/crds/types.js';
import type { IstioObject } from '../translate/decode-object.js';
import type {
  DestinationSpec,
  HttpMatchSpec,
  HttpRouteSpec,
  L4RouteSpec,
  VirtualServiceObject,
} from '../translate/virtual-service-spec.js';

const gatewayKey = (g: string, ns: string): string => (g === 'mesh' || g.includes('/') ? g : `${ns}/${g}`);

/** Hosts that Services (as FQDN) and ServiceEntries define. */
function knownHosts(ctx: AnalysisContext): { has: (host: string) => boolean } {
  const exact = new Set<string>();
  const wildcards: string[] = [];
  for (const s of ctx.of('Service')) exact.add(`${s.metadata.name}.${nsOf(s)}.svc.${ctx.opts.domain}`);
  for (const se of ctx.istio('ServiceEntry', 'networking.istio.io', net.serviceEntry)) {
    for (const h of se.spec.hosts ?? []) {
      exact.add(h);
      if (h.startsWith('*')) wildcards.push(h);
    }
  }
  return { has: (h) => exact.has(h) || wildcards.some((w) => hostMatches(w, h)) };
}

/** Subsets defined per host FQDN (DestinationRules of any namespace). */
function subsetsByHost(ctx: AnalysisContext): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const dr of ctx.istio('DestinationRule', 'networking.istio.io', net.destinationRule)) {
    const host = resolveHost(dr.spec.host ?? '', nsOf(dr), ctx.opts.domain);
    const set = out.get(host) ?? new Set<string>();
    for (const s of dr.spec.subsets ?? []) if (s.name) set.add(s.name);
    out.set(host, set);
  }
  return out;
}

function checkReferences(ctx: AnalysisContext, vs: VirtualServiceObject): void {
  const ns = nsOf(vs);
  const { spec } = vs;
  const hosts = knownHosts(ctx);
  const subsets = subsetsByHost(ctx);
  const gateways = new Map<string, IstioObject<GatewaySpec>>(
    ctx.istio('Gateway', 'networking.istio.io', net.gateway).map((g) => [`${nsOf(g)}/${g.metadata.name}`, g]),
  );
  (spec.gateways ?? []).forEach((g, i) => {
    if (g !== 'mesh' && !gateways.has(gatewayKey(g, ns))) {
      ctx.report(MSG.ReferencedResourceNotFound, vs, `Referenced gateway not found: "${g}"`, `spec.gateways[${i}]`);
    }
  });
  const destination = (d: DestinationSpec, field: string): void => {
    const host = d.host;
    if (!host) return;
    const fqdn = resolveHost(host, ns, ctx.opts.domain);
    if (!hosts.has(fqdn))
      ctx.report(MSG.ReferencedResourceNotFound, vs, `Referenced host not found: "${host}"`, `${field}.host`);
    const subset = d.subset;
    if (subset && !subsets.get(fqdn)?.has(subset)) {
      ctx.report(
        MSG.ReferencedResourceNotFound,
        vs,
        `Referenced host+subset in destinationrule not found: "${host}+${subset}" ` +
          `(subset "${subset}" is not defined: ` +
          'Ambit answers this route with 503)',
        `${field}.subset`,
      );
    }
  };
  (spec.http ?? []).forEach((r, i) => {
    r.route?.forEach((dw, j) => destination(dw.destination, `spec.http[${i}].route[${j}].destination`));
    if (r.mirror) destination(r.mirror, `spec.http[${i}].mirror`);
  });
  for (const kind of ['tcp', 'tls'] as const) {
    const routes: readonly L4RouteSpec[] = spec[kind] ?? [];
    routes.forEach((r, i) =>
      r.route?.forEach((dw, j) => destination(dw.destination, `spec.${kind}[${i}].route[${j}].destination`)),
    );
  }
  // IST0132: a host the bound Gateway's servers do not serve.
  for (const g of spec.gateways ?? []) {
    const gw = gateways.get(gatewayKey(g, ns));
    if (!gw) continue;
    const served = (gw.spec.servers ?? [])
      .flatMap((s) => s.hosts)
      .map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h));
    const missing = (spec.hosts ?? []).filter(
      (h) => !served.some((s) => s === '*' || hostMatches(s, h) || hostMatches(h, s)),
    );
    if (missing.length > 0) {
      ctx.report(
        MSG.VirtualServiceHostNotFoundInGateway,
        vs,
        `one or more host [${missing.join(', ')}] defined in VirtualService ${ns}/${vs.metadata.name} ` +
          `not found in Gateway ${gatewayKey(g, ns)}.`,
        'spec.hosts',
      );
    }
  }
}

/** IST0109: two VirtualServices bound to the mesh for the same host; both are named. */
function checkMeshConflicts(ctx: AnalysisContext, all: readonly VirtualServiceObject[]): void {
  const byHost = new Map<string, VirtualServiceObject[]>();
  for (const vs of all) {
    const gws = vs.spec.gateways ?? [];
    if (gws.length > 0 && !gws.includes('mesh')) continue;
    for (const h of new Set((vs.spec.hosts ?? []).map((x) => resolveHost(x, nsOf(vs), ctx.opts.domain)))) {
      byHost.set(h, [...(byHost.get(h) ?? []), vs]);
    }
  }
  for (const [host, list] of byHost) {
    if (list.length < 2) continue;
    const names = list
      .map((v) => `${nsOf(v)}/${v.metadata.name}`)
      .sort()
      .join(',');
    for (const vs of list) {
      ctx.report(
        MSG.ConflictingMeshGatewayVirtualServiceHosts,
        vs,
        `The VirtualServices ${names} associated with mesh gateway define the same host ${host} ` +
          'which can lead to undefined behavior. ' +
          'This can be fixed by merging the conflicting VirtualServices into a single resource.',
        'spec.hosts',
      );
    }
  }
}

const ruleName = (r: HttpRouteSpec, i: number): string => r.name ?? `#${i}`;
const matchName = (m: HttpMatchSpec, j: number): string => m.name ?? `#${j}`;
/** A match's identity for duplicate detection, without its name. */
const matchKey = (m: HttpMatchSpec): string => JSON.stringify({ ...m, name: undefined });

/** IST0130/IST0131: rules after a catch-all, and matches an earlier rule already took. */
function checkRules(ctx: AnalysisContext, vs: VirtualServiceObject): void {
  const rules = vs.spec.http ?? [];
  const seen = new Map<string, string>();
  let catchAll: string | undefined;
  rules.forEach((r, i) => {
    const name = ruleName(r, i);
    const matches = r.match ?? [];
    if (catchAll !== undefined) {
      ctx.report(
        MSG.VirtualServiceUnreachableRule,
        vs,
        `VirtualService rule ${name} not used (only the last rule can have no matches).`,
        `spec.http[${i}]`,
      );
      return;
    }
    if (matches.length === 0 || matches.some((m) => Object.keys(m).filter((k) => k !== 'name').length === 0)) {
      catchAll = name;
      return;
    }
    const dup = matches.map((m, j) => ({ m, j, earlier: seen.get(matchKey(m)) }));
    if (dup.every((d) => d.earlier !== undefined)) {
      ctx.report(
        MSG.VirtualServiceUnreachableRule,
        vs,
        `VirtualService rule ${name} not used (duplicate/overlapping match in rule ${dup[0]?.earlier}).`,
        `spec.http[${i}]`,
      );
    } else {
      for (const d of dup) {
        if (d.earlier === undefined) continue;
        ctx.report(
          MSG.VirtualServiceIneffectiveMatch,
          vs,
          `VirtualService rule ${name} match ${matchName(d.m, d.j)} is not used ` +
            `(duplicate/overlapping match in rule ${d.earlier}).`,
          `spec.http[${i}].match[${d.j}]`,
        );
      }
    }
    for (const m of matches) if (!seen.has(matchKey(m))) seen.set(matchKey(m), name);
  });
}

export function analyzeVirtualServices(ctx: AnalysisContext): void {
  const all = ctx.istio('VirtualService', 'networking.istio.io', net.virtualService);
  for (const vs of all) {
    checkReferences(ctx, vs);
    checkRules(ctx, vs);
  }
  checkMeshConflicts(ctx, all);
}
