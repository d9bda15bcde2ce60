// DestinationRule validation: host, subsets (unique names, string labels), traffic policies.
import { arr, rec } from '../raw.js';
import {
  checkDuration,
  checkEnum,
  checkHost,
  checkLabels,
  checkList,
  checkPort,
  checkRequiredString,
  checkStringList,
  Issues,
  specOf,
} from './common.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

const LB_SIMPLE = ['UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH'];
const TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];

export function validateDestinationRule(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkHost(issues, 'spec.host', spec.host);
  checkStringList(issues, 'spec.exportTo', spec.exportTo);
  if (spec.trafficPolicy !== undefined) checkTrafficPolicy(issues, 'spec.trafficPolicy', spec.trafficPolicy, true);
  const names = new Set<string>();
  checkList(issues, 'spec.subsets', spec.subsets).forEach((s, i) => {
    const at = `spec.subsets[${i}]`;
    const subset = rec(s);
    if (!subset) return issues.add(at, 'must be a map');
    checkRequiredString(issues, `${at}.name`, subset.name);
    if (typeof subset.name === 'string') {
      if (names.has(subset.name)) issues.add(`${at}.name`, `duplicate subset name "${subset.name}"`);
      names.add(subset.name);
    }
    checkLabels(issues, `${at}.labels`, subset.labels);
    if (subset.trafficPolicy !== undefined)
      checkTrafficPolicy(issues, `${at}.trafficPolicy`, subset.trafficPolicy, true);
  });
  if (spec.workloadSelector !== undefined)
    checkLabels(issues, 'spec.workloadSelector.matchLabels', rec(spec.workloadSelector)?.matchLabels);
  return issues;
}

export function checkTrafficPolicy(issues: Issues, at: string, value: unknown, allowPortLevel: boolean): void {
  const tp = rec(value);
  if (!tp) return issues.add(at, 'must be a map');
  if (tp.loadBalancer !== undefined) checkLoadBalancer(issues, `${at}.loadBalancer`, tp.loadBalancer);
  if (tp.connectionPool !== undefined) checkConnectionPool(issues, `${at}.connectionPool`, tp.connectionPool);
  if (tp.outlierDetection !== undefined) checkOutlier(issues, `${at}.outlierDetection`, tp.outlierDetection);
  if (tp.tls !== undefined) {
    const tls = rec(tp.tls) ?? {};
    checkEnum(issues, `${at}.tls.mode`, tls.mode, TLS_MODES);
    if (
      tls.mode === 'MUTUAL' &&
      tls.credentialName === undefined &&
      (tls.clientCertificate === undefined || tls.privateKey === undefined)
    ) {
      issues.add(`${at}.tls`, 'MUTUAL requires clientCertificate and privateKey, or credentialName');
    }
    checkStringList(issues, `${at}.tls.subjectAltNames`, tls.subjectAltNames);
  }
  if (tp.portLevelSettings !== undefined) {
    if (!allowPortLevel) issues.add(`${at}.portLevelSettings`, 'not allowed here');
    checkList(issues, `${at}.portLevelSettings`, tp.portLevelSettings).forEach((pl, i) => {
      const p = rec(pl) ?? {};
      checkPort(issues, `${at}.portLevelSettings[${i}].port.number`, rec(p.port)?.number, true);
      checkTrafficPolicy(issues, `${at}.portLevelSettings[${i}]`, { ...p, port: undefined }, false);
    });
  }
}

function checkLoadBalancer(issues: Issues, at: string, value: unknown): void {
  const lb = rec(value);
  if (!lb) return issues.add(at, 'must be a map');
  checkEnum(issues, `${at}.simple`, lb.simple, LB_SIMPLE);
  if (lb.simple !== undefined && lb.consistentHash !== undefined)
    issues.add(at, 'only one of simple or consistentHash may be set');
  if (lb.consistentHash !== undefined) {
    const ch = rec(lb.consistentHash) ?? {};
    const kinds = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter(
      (k) => ch[k] !== undefined,
    );
    if (kinds.length !== 1)
      issues.add(
        `${at}.consistentHash`,
        'exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName is required',
      );
    if (ch.httpCookie !== undefined) {
      const c = rec(ch.httpCookie) ?? {};
      checkRequiredString(issues, `${at}.consistentHash.httpCookie.name`, c.name);
      checkDuration(issues, `${at}.consistentHash.httpCookie.ttl`, c.ttl, { min1ms: false });
    }
  }
  if (lb.localityLbSetting !== undefined) {
    const l = rec(lb.localityLbSetting) ?? {};
    if (l.distribute !== undefined && l.failover !== undefined)
      issues.add(`${at}.localityLbSetting`, 'distribute and failover cannot both be set');
    arr(l.distribute).forEach((d, i) => {
      const r = rec(d) ?? {};
      checkRequiredString(issues, `${at}.localityLbSetting.distribute[${i}].from`, r.from);
      const to = rec(r.to) ?? {};
      let sum = 0;
      for (const [k, v] of Object.entries(to)) {
        if (typeof v !== 'number' || v < 0)
          issues.add(`${at}.localityLbSetting.distribute[${i}].to.${k}`, 'weight must be a non-negative number');
        else sum += v;
      }
      if (sum !== 100) issues.add(`${at}.localityLbSetting.distribute[${i}].to`, `total weight ${sum} != 100`);
    });
    arr(l.failover).forEach((f, i) => {
      const r = rec(f) ?? {};
      checkRequiredString(issues, `${at}.localityLbSetting.failover[${i}].from`, r.from);
      checkRequiredString(issues, `${at}.localityLbSetting.failover[${i}].to`, r.to);
      if (r.from === r.to) issues.add(`${at}.localityLbSetting.failover[${i}]`, 'from and to must differ');
    });
  }
}

function nonNegativeInt(issues: Issues, at: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0))
    issues.add(at, `must be a non-negative integer, got ${JSON.stringify(v)}`);
}

function checkConnectionPool(issues: Issues, at: string, value: unknown): void {
  const cp = rec(value);
  if (!cp) return issues.add(at, 'must be a map');
  const tcp = rec(cp.tcp) ?? {};
  nonNegativeInt(issues, `${at}.tcp.maxConnections`, tcp.maxConnections);
  checkDuration(issues, `${at}.tcp.connectTimeout`, tcp.connectTimeout);
  checkDuration(issues, `${at}.tcp.maxConnectionDuration`, tcp.maxConnectionDuration);
  const http = rec(cp.http) ?? {};
  for (const k of [
    'http1MaxPendingRequests',
    'http2MaxRequests',
    'maxRequestsPerConnection',
    'maxRetries',
    'maxConcurrentStreams',
  ]) {
    nonNegativeInt(issues, `${at}.http.${k}`, http[k]);
  }
  checkDuration(issues, `${at}.http.idleTimeout`, http.idleTimeout);
}

function checkOutlier(issues: Issues, at: string, value: unknown): void {
  const od = rec(value);
  if (!od) return issues.add(at, 'must be a map');
  for (const k of [
    'consecutive5xxErrors',
    'consecutiveGatewayErrors',
    'consecutiveLocalOriginFailures',
    'consecutiveErrors',
  ])
    nonNegativeInt(issues, `${at}.${k}`, od[k]);
  checkDuration(issues, `${at}.interval`, od.interval);
  checkDuration(issues, `${at}.baseEjectionTime`, od.baseEjectionTime);
  for (const k of ['maxEjectionPercent', 'minHealthPercent']) {
    const v = od[k];
    if (v !== undefined && (typeof v !== 'number' || v < 0 || v > 100))
      issues.add(`${at}.${k}`, `percentage ${JSON.stringify(v)} must be between 0 and 100`);
  }
}
