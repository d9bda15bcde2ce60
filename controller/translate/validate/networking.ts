// Validation of ServiceEntry, Sidecar, WorkloadEntry/WorkloadGroup and Istio's Gateway.
// Istio's value rules on the decoded spec; types, enums, required and unknown fields were
// checked by decode.
import { checkEnum, checkHost, checkLabels, checkPort, Issues } from './common.js';
import { checkNonEmptyStrings } from './destination-rule.js';
import type { IstioObject } from '../decode-object.js';
import type * as crd from '../../../core/crds/types.js';

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

type WorkloadEntrySpec = crd.WorkloadEntrySpec;

function checkWorkloadEntrySpec(
  issues: Issues,
  at: string,
  spec: Partial<WorkloadEntrySpec>,
  addressRequired: boolean,
): void {
  if (addressRequired && !spec.address && spec.network === undefined)
    issues.add(`${at}.address`, 'required field is missing');
  checkLabels(issues, `${at}.labels`, spec.labels);
  for (const [name, port] of Object.entries(spec.ports ?? {})) checkPort(issues, `${at}.ports.${name}`, port, true);
  if (spec.weight !== undefined && spec.weight < 0) issues.add(`${at}.weight`, 'weight must be a non-negative integer');
}

/** A required list: present (decode checked), not empty, no empty entries. */
function checkRequiredList(issues: Issues, at: string, list: readonly string[]): void {
  if (list.length === 0) issues.add(at, 'must not be empty');
  checkNonEmptyStrings(issues, at, list);
}

export function validateServiceEntry(obj: IstioObject<crd.ServiceEntrySpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkRequiredList(issues, 'spec.hosts', spec.hosts);
  spec.hosts.forEach((h, i) => checkHost(issues, `spec.hosts[${i}]`, h));
  checkNonEmptyStrings(issues, 'spec.addresses', spec.addresses);
  checkNonEmptyStrings(issues, 'spec.exportTo', spec.exportTo);
  const names = new Set<string>();
  (spec.ports ?? []).forEach((port, i) => {
    checkPort(issues, `spec.ports[${i}].number`, port.number, true);
    if (port.name === '') issues.add(`spec.ports[${i}].name`, 'required field is missing');
    else if (names.has(port.name)) issues.add(`spec.ports[${i}].name`, `duplicate port name "${port.name}"`);
    names.add(port.name);
    // Istio parses protocols case-insensitively; empty means TCP.
    if (port.protocol !== '')
      checkEnum(issues, `spec.ports[${i}].protocol`, port.protocol, SE_PROTOCOLS, { ignoreCase: true });
    if (port.targetPort !== undefined) checkPort(issues, `spec.ports[${i}].targetPort`, port.targetPort);
  });
  if (spec.endpoints !== undefined && spec.workloadSelector !== undefined)
    issues.add('spec.workloadSelector', 'only one of endpoints or workloadSelector may be set');
  (spec.endpoints ?? []).forEach((e, i) => checkWorkloadEntrySpec(issues, `spec.endpoints[${i}]`, e, true));
  checkLabels(issues, 'spec.workloadSelector.labels', spec.workloadSelector?.labels);
  const resolution = spec.resolution ?? 'NONE';
  if (resolution === 'DYNAMIC_DNS')
    issues.add(
      'spec.resolution',
      'resolution DYNAMIC_DNS (a waypoint resolving the host of each request to a wildcard host) is not supported by Ambit',
    );
  if (resolution === 'STATIC' && spec.endpoints === undefined && spec.workloadSelector === undefined)
    issues.add('spec.endpoints', 'resolution STATIC needs endpoints or a workloadSelector');
  if (resolution === 'NONE' && (spec.endpoints ?? []).length > 0)
    issues.add('spec.endpoints', 'no endpoints should be provided for resolution NONE');
  spec.hosts.forEach((h, i) => {
    if (!h.startsWith('*')) return;
    if (resolution === 'STATIC') issues.add(`spec.hosts[${i}]`, 'wildcard hosts cannot use resolution STATIC');
    if (resolution === 'DNS' && spec.endpoints === undefined)
      issues.add(`spec.hosts[${i}]`, 'wildcard host with resolution DNS needs endpoints');
  });
  return issues;
}

export function validateWorkloadEntry(obj: IstioObject<crd.WorkloadEntrySpec>): Issues {
  const issues = new Issues();
  checkWorkloadEntrySpec(issues, 'spec', obj.spec, true);
  return issues;
}

export function validateWorkloadGroup(obj: IstioObject<crd.WorkloadGroupSpec>): Issues {
  const issues = new Issues();
  checkLabels(issues, 'spec.metadata.labels', obj.spec.metadata?.labels);
  checkWorkloadEntrySpec(issues, 'spec.template', obj.spec.template, false);
  return issues;
}

export function validateSidecar(obj: IstioObject<crd.SidecarSpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkLabels(issues, 'spec.workloadSelector.labels', spec.workloadSelector?.labels);
  (spec.egress ?? []).forEach((eg, i) => {
    checkRequiredList(issues, `spec.egress[${i}].hosts`, eg.hosts);
    eg.hosts.forEach((h, j) => {
      const slash = h.indexOf('/');
      if (slash <= 0)
        return issues.add(
          `spec.egress[${i}].hosts[${j}]`,
          `"${h}" must be namespace/dnsName (e.g. ./* or istio-system/*)`,
        );
      checkHost(issues, `spec.egress[${i}].hosts[${j}]`, h.slice(slash + 1));
    });
    // A unix domain socket bind takes port number 0.
    if (eg.port && !eg.bind?.startsWith('unix://'))
      checkPort(issues, `spec.egress[${i}].port.number`, eg.port.number, true);
  });
  return issues;
}

export function validateIstioGateway(obj: IstioObject<crd.GatewaySpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkLabels(issues, 'spec.selector', spec.selector);
  const servers = spec.servers ?? [];
  if (servers.length === 0) issues.add('spec.servers', 'at least one server is required');
  const portNames = new Set<string>();
  servers.forEach((server, i) => {
    const { port, tls } = server;
    if (portNames.has(port.name))
      issues.add(`spec.servers[${i}].port.name`, `port names in servers must be unique: duplicate "${port.name}"`);
    portNames.add(port.name);
    checkPort(issues, `spec.servers[${i}].port.number`, port.number, true);
    if (port.protocol === '') issues.add(`spec.servers[${i}].port.protocol`, 'required field is missing');
    else checkEnum(issues, `spec.servers[${i}].port.protocol`, port.protocol, SE_PROTOCOLS, { ignoreCase: true });
    checkRequiredList(issues, `spec.servers[${i}].hosts`, server.hosts);
    if (tls) {
      const noCertificate = tls.credentialName === undefined && tls.serverCertificate === undefined;
      if ((tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') && noCertificate)
        issues.add(`spec.servers[${i}].tls`, `${tls.mode} needs credentialName or serverCertificate/privateKey`);
    } else if (port.protocol === 'HTTPS') issues.add(`spec.servers[${i}].tls`, 'HTTPS server requires tls settings');
  });
  return issues;
}
