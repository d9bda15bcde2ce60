// Validation of ServiceEntry, Sidecar, WorkloadEntry/WorkloadGroup and Istio's Gateway.
import { arr, rec, type Raw } from '../raw.js';
import {
  checkEnum,
  checkHost,
  checkLabels,
  checkList,
  checkPort,
  checkRequiredString,
  checkSelector,
  checkStringList,
  Issues,
  specOf,
} from './common.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

export const SE_PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'TLS',
  'TCP',
  'UDP',
  'MONGO',
  'MYSQL',
  'REDIS',
];

function checkPortMap(issues: Issues, at: string, value: unknown): void {
  if (value === undefined) return;
  const m = rec(value);
  if (!m) return issues.add(at, 'must be a map of port name → number');
  for (const [k, v] of Object.entries(m)) checkPort(issues, `${at}.${k}`, v, true);
}

function checkWorkloadEntrySpec(issues: Issues, at: string, spec: Raw, addressRequired: boolean): void {
  if (addressRequired && (spec.address === undefined || spec.address === '') && spec.network === undefined) {
    issues.add(`${at}.address`, 'required field is missing');
  }
  if (spec.address !== undefined && typeof spec.address !== 'string') issues.add(`${at}.address`, 'must be a string');
  checkLabels(issues, `${at}.labels`, spec.labels);
  checkPortMap(issues, `${at}.ports`, spec.ports);
  if (spec.weight !== undefined && (typeof spec.weight !== 'number' || spec.weight < 0))
    issues.add(`${at}.weight`, 'weight must be a non-negative integer');
  if (spec.serviceAccount !== undefined && typeof spec.serviceAccount !== 'string')
    issues.add(`${at}.serviceAccount`, 'must be a string');
}

export function validateServiceEntry(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkStringList(issues, 'spec.hosts', spec.hosts, true);
  arr(spec.hosts).forEach((h, i) => checkHost(issues, `spec.hosts[${i}]`, h));
  checkStringList(issues, 'spec.addresses', spec.addresses);
  checkStringList(issues, 'spec.exportTo', spec.exportTo);
  checkEnum(issues, 'spec.location', spec.location, ['MESH_EXTERNAL', 'MESH_INTERNAL']);
  checkEnum(issues, 'spec.resolution', spec.resolution, ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']);
  const names = new Set<string>();
  checkList(issues, 'spec.ports', spec.ports).forEach((p, i) => {
    const port = rec(p) ?? {};
    checkPort(issues, `spec.ports[${i}].number`, port.number, true);
    checkRequiredString(issues, `spec.ports[${i}].name`, port.name);
    if (typeof port.name === 'string') {
      if (names.has(port.name)) issues.add(`spec.ports[${i}].name`, `duplicate port name "${port.name}"`);
      names.add(port.name);
    }
    // Istio parses protocols case-insensitively; empty means TCP.
    if (port.protocol !== '')
      checkEnum(issues, `spec.ports[${i}].protocol`, port.protocol, SE_PROTOCOLS, { ignoreCase: true });
    if (port.targetPort !== undefined) checkPort(issues, `spec.ports[${i}].targetPort`, port.targetPort);
  });
  if (spec.endpoints !== undefined && spec.workloadSelector !== undefined)
    issues.add('spec.workloadSelector', 'only one of endpoints or workloadSelector may be set');
  checkList(issues, 'spec.endpoints', spec.endpoints).forEach((e, i) =>
    checkWorkloadEntrySpec(issues, `spec.endpoints[${i}]`, rec(e) ?? {}, true),
  );
  checkSelector(issues, 'spec.workloadSelector', spec.workloadSelector, 'labels');
  if (spec.resolution === 'STATIC' && spec.endpoints === undefined && spec.workloadSelector === undefined) {
    issues.add('spec.endpoints', 'resolution STATIC needs endpoints or a workloadSelector');
  }
  if ((spec.resolution ?? 'NONE') === 'NONE' && Array.isArray(spec.endpoints) && spec.endpoints.length > 0) {
    issues.add('spec.endpoints', 'no endpoints should be provided for resolution NONE');
  }
  if ((spec.resolution ?? 'NONE') === 'NONE' || spec.resolution === 'STATIC') {
    arr(spec.hosts).forEach((h, i) => {
      if (typeof h === 'string' && h.startsWith('*') && spec.resolution === 'STATIC')
        issues.add(`spec.hosts[${i}]`, 'wildcard hosts cannot use resolution STATIC');
    });
  }
  if (spec.resolution === 'DNS') {
    arr(spec.hosts).forEach((h, i) => {
      if (typeof h === 'string' && h.startsWith('*') && spec.endpoints === undefined)
        issues.add(`spec.hosts[${i}]`, 'wildcard host with resolution DNS needs endpoints');
    });
  }
  return issues;
}

export function validateWorkloadEntry(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  checkWorkloadEntrySpec(issues, 'spec', specOf(obj, issues), true);
  return issues;
}

export function validateWorkloadGroup(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkLabels(issues, 'spec.metadata.labels', rec(spec.metadata)?.labels);
  const template = rec(spec.template);
  if (!template) issues.add('spec.template', 'required field is missing');
  else checkWorkloadEntrySpec(issues, 'spec.template', template, false);
  return issues;
}

export function validateSidecar(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkSelector(issues, 'spec.workloadSelector', spec.workloadSelector, 'labels');
  checkList(issues, 'spec.egress', spec.egress).forEach((e, i) => {
    const eg = rec(e) ?? {};
    checkStringList(issues, `spec.egress[${i}].hosts`, eg.hosts, true);
    arr(eg.hosts).forEach((h, j) => {
      if (typeof h !== 'string') return;
      const slash = h.indexOf('/');
      if (slash <= 0)
        return issues.add(
          `spec.egress[${i}].hosts[${j}]`,
          `"${h}" must be namespace/dnsName (e.g. ./* or istio-system/*)`,
        );
      checkHost(issues, `spec.egress[${i}].hosts[${j}]`, h.slice(slash + 1));
    });
    if (eg.port !== undefined) checkPort(issues, `spec.egress[${i}].port.number`, rec(eg.port)?.number, true);
  });
  const otp = rec(spec.outboundTrafficPolicy);
  if (otp) checkEnum(issues, 'spec.outboundTrafficPolicy.mode', otp.mode, ['ALLOW_ANY', 'REGISTRY_ONLY']);
  return issues;
}

export function validateIstioGateway(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkLabels(issues, 'spec.selector', spec.selector);
  const servers = checkList(issues, 'spec.servers', spec.servers);
  if (servers.length === 0) issues.add('spec.servers', 'at least one server is required');
  const portNames = new Set<string>();
  servers.forEach((s, i) => {
    const server = rec(s) ?? {};
    const port = rec(server.port);
    if (typeof port?.name === 'string') {
      if (portNames.has(port.name))
        issues.add(`spec.servers[${i}].port.name`, `port names in servers must be unique: duplicate "${port.name}"`);
      portNames.add(port.name);
    }
    if (!port) issues.add(`spec.servers[${i}].port`, 'required field is missing');
    else {
      checkPort(issues, `spec.servers[${i}].port.number`, port.number, true);
      checkEnum(issues, `spec.servers[${i}].port.protocol`, port.protocol, SE_PROTOCOLS, { ignoreCase: true });
      if (port.protocol === undefined || port.protocol === '')
        issues.add(`spec.servers[${i}].port.protocol`, 'required field is missing');
    }
    checkStringList(issues, `spec.servers[${i}].hosts`, server.hosts, true);
    const tls = rec(server.tls);
    if (tls) {
      checkEnum(issues, `spec.servers[${i}].tls.mode`, tls.mode, [
        'PASSTHROUGH',
        'SIMPLE',
        'MUTUAL',
        'AUTO_PASSTHROUGH',
        'ISTIO_MUTUAL',
        'OPTIONAL_MUTUAL',
      ]);
      if (
        (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') &&
        tls.credentialName === undefined &&
        tls.serverCertificate === undefined
      ) {
        issues.add(
          `spec.servers[${i}].tls`,
          `${String(tls.mode)} needs credentialName or serverCertificate/privateKey`,
        );
      }
    } else if (port?.protocol === 'HTTPS') issues.add(`spec.servers[${i}].tls`, 'HTTPS server requires tls settings');
  });
  return issues;
}
