// DestinationRule validation: Istio's value rules on the decoded spec (host, unique subset
// names, traffic policies). Types, enums, required and unknown fields were checked by decode.
import { checkDuration, checkHost, checkLabels, checkPort, Issues } from './common.js';
import type { IstioObject } from '../decode-object.js';
import type { DestinationRuleSpec } from '../../../core/crds/types.js';

type TrafficPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>;
/** The settings a port level may override (all but portLevelSettings, tunnel and proxyProtocol). */
type PolicySettings = Pick<TrafficPolicy, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'>;
type LoadBalancer = NonNullable<TrafficPolicy['loadBalancer']>;
type ConnectionPool = NonNullable<TrafficPolicy['connectionPool']>;
type OutlierDetection = NonNullable<TrafficPolicy['outlierDetection']>;

export function validateDestinationRule(obj: IstioObject<DestinationRuleSpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkHost(issues, 'spec.host', spec.host);
  checkNonEmptyStrings(issues, 'spec.exportTo', spec.exportTo);
  if (spec.trafficPolicy) checkTrafficPolicy(issues, 'spec.trafficPolicy', spec.trafficPolicy);
  const names = new Set<string>();
  (spec.subsets ?? []).forEach((subset, i) => {
    const at = `spec.subsets[${i}]`;
    if (subset.name === '') issues.add(`${at}.name`, 'required field is missing');
    else if (names.has(subset.name)) issues.add(`${at}.name`, `duplicate subset name "${subset.name}"`);
    names.add(subset.name);
    checkLabels(issues, `${at}.labels`, subset.labels);
    if (subset.trafficPolicy) checkTrafficPolicy(issues, `${at}.trafficPolicy`, subset.trafficPolicy);
  });
  checkLabels(issues, 'spec.workloadSelector.matchLabels', spec.workloadSelector?.matchLabels);
  return issues;
}

/** Entries of a string list must not be empty. */
export function checkNonEmptyStrings(issues: Issues, at: string, list: readonly string[] | undefined): void {
  (list ?? []).forEach((v, i) => {
    if (v === '') issues.add(`${at}[${i}]`, 'must be a non-empty string');
  });
}

function checkTrafficPolicy(issues: Issues, at: string, tp: TrafficPolicy): void {
  checkPolicySettings(issues, at, tp);
  (tp.portLevelSettings ?? []).forEach((pl, i) => {
    checkPort(issues, `${at}.portLevelSettings[${i}].port.number`, pl.port?.number, true);
    checkPolicySettings(issues, `${at}.portLevelSettings[${i}]`, pl);
  });
}

function checkPolicySettings(issues: Issues, at: string, tp: PolicySettings): void {
  if (tp.loadBalancer) checkLoadBalancer(issues, `${at}.loadBalancer`, tp.loadBalancer);
  if (tp.connectionPool) checkConnectionPool(issues, `${at}.connectionPool`, tp.connectionPool);
  if (tp.outlierDetection) checkOutlier(issues, `${at}.outlierDetection`, tp.outlierDetection);
  const tls = tp.tls;
  if (tls) {
    if (
      tls.mode === 'MUTUAL' &&
      tls.credentialName === undefined &&
      (tls.clientCertificate === undefined || tls.privateKey === undefined)
    ) {
      issues.add(`${at}.tls`, 'MUTUAL requires clientCertificate and privateKey, or credentialName');
    }
    checkNonEmptyStrings(issues, `${at}.tls.subjectAltNames`, tls.subjectAltNames);
  }
}

function checkLoadBalancer(issues: Issues, at: string, lb: LoadBalancer): void {
  if (lb.simple !== undefined && lb.consistentHash !== undefined)
    issues.add(at, 'only one of simple or consistentHash may be set');
  const ch = lb.consistentHash;
  if (ch) {
    const kinds = [ch.httpHeaderName, ch.httpCookie, ch.useSourceIp, ch.httpQueryParameterName].filter(
      (k) => k !== undefined,
    );
    if (kinds.length !== 1)
      issues.add(
        `${at}.consistentHash`,
        'exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName is required',
      );
    if (ch.httpCookie) {
      if (ch.httpCookie.name === '') issues.add(`${at}.consistentHash.httpCookie.name`, 'required field is missing');
      checkDuration(issues, `${at}.consistentHash.httpCookie.ttl`, ch.httpCookie.ttl, { min1ms: false });
    }
  }
  checkDuration(issues, `${at}.warmupDurationSecs`, lb.warmupDurationSecs, { min1ms: false });
  if (lb.warmup) {
    checkDuration(issues, `${at}.warmup.duration`, lb.warmup.duration, { min1ms: false });
    const { minimumPercent, aggression } = lb.warmup;
    if (minimumPercent !== undefined && (minimumPercent < 0 || minimumPercent > 100))
      issues.add(`${at}.warmup.minimumPercent`, `percentage ${minimumPercent} must be between 0 and 100`);
    if (aggression !== undefined && aggression < 0) issues.add(`${at}.warmup.aggression`, 'must not be negative');
  }
  const l = lb.localityLbSetting;
  if (l) {
    const lat = `${at}.localityLbSetting`;
    if (l.distribute !== undefined && l.failover !== undefined)
      issues.add(lat, 'distribute and failover cannot both be set');
    (l.distribute ?? []).forEach((d, i) => {
      if (!d.from) issues.add(`${lat}.distribute[${i}].from`, 'required field is missing');
      let sum = 0;
      for (const [k, v] of Object.entries(d.to ?? {})) {
        if (v < 0) issues.add(`${lat}.distribute[${i}].to.${k}`, 'weight must be a non-negative number');
        else sum += v;
      }
      if (sum !== 100) issues.add(`${lat}.distribute[${i}].to`, `total weight ${sum} != 100`);
    });
    (l.failover ?? []).forEach((f, i) => {
      if (!f.from) issues.add(`${lat}.failover[${i}].from`, 'required field is missing');
      if (!f.to) issues.add(`${lat}.failover[${i}].to`, 'required field is missing');
      if (f.from === f.to) issues.add(`${lat}.failover[${i}]`, 'from and to must differ');
    });
  }
}

function nonNegative(issues: Issues, at: string, v: number | undefined): void {
  if (v !== undefined && v < 0) issues.add(at, `must be a non-negative integer, got ${v}`);
}

function checkConnectionPool(issues: Issues, at: string, cp: ConnectionPool): void {
  const tcp = cp.tcp ?? {};
  nonNegative(issues, `${at}.tcp.maxConnections`, tcp.maxConnections);
  checkDuration(issues, `${at}.tcp.connectTimeout`, tcp.connectTimeout);
  checkDuration(issues, `${at}.tcp.maxConnectionDuration`, tcp.maxConnectionDuration);
  const http = cp.http ?? {};
  nonNegative(issues, `${at}.http.http1MaxPendingRequests`, http.http1MaxPendingRequests);
  nonNegative(issues, `${at}.http.http2MaxRequests`, http.http2MaxRequests);
  nonNegative(issues, `${at}.http.maxRequestsPerConnection`, http.maxRequestsPerConnection);
  nonNegative(issues, `${at}.http.maxRetries`, http.maxRetries);
  nonNegative(issues, `${at}.http.maxConcurrentStreams`, http.maxConcurrentStreams);
  checkDuration(issues, `${at}.http.idleTimeout`, http.idleTimeout);
}

function checkOutlier(issues: Issues, at: string, od: OutlierDetection): void {
  nonNegative(issues, `${at}.consecutive5xxErrors`, od.consecutive5xxErrors);
  nonNegative(issues, `${at}.consecutiveGatewayErrors`, od.consecutiveGatewayErrors);
  nonNegative(issues, `${at}.consecutiveLocalOriginFailures`, od.consecutiveLocalOriginFailures);
  nonNegative(issues, `${at}.consecutiveErrors`, od.consecutiveErrors);
  checkDuration(issues, `${at}.interval`, od.interval);
  checkDuration(issues, `${at}.baseEjectionTime`, od.baseEjectionTime);
  for (const [k, v] of [
    ['maxEjectionPercent', od.maxEjectionPercent],
    ['minHealthPercent', od.minHealthPercent],
  ] as const) {
    if (v !== undefined && (v < 0 || v > 100)) issues.add(`${at}.${k}`, `percentage ${v} must be between 0 and 100`);
  }
}
