// Shared by the egress suites: the objects of Istio's egress gateway pattern (the docs' five:
// Gateway, Service of the gateway pod, ServiceEntry, VirtualService bound to `mesh` and the
// gateway, DestinationRule originating TLS on 443), and curl from a pod of a local mesh.
import { CTL, sh } from '../support/local-mesh.js';

export interface EgressGatewayPattern {
  readonly namespace: string;
  readonly host: string;
  /** The gateway's server port (and its Service's). */
  readonly gatewayPort: number;
  /** The external endpoint: its address, and the port its 443 really is (a loopback test server). */
  readonly endpoint: { readonly address: string; readonly httpsPort?: number };
  readonly addresses?: readonly string[];
  readonly credentialName: string;
}

export function egressGatewayYaml(p: EgressGatewayPattern): string {
  const svc = `istio-egressgateway.${p.namespace}.svc.cluster.local`;
  const ports = p.endpoint.httpsPort ? `, ports: { https: ${p.endpoint.httpsPort} }` : '';
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress-gateway, namespace: ${p.namespace} }
spec:
  selector: { istio: egressgateway }
  servers:
    - port: { number: ${p.gatewayPort}, name: http, protocol: HTTP }
      hosts: [${p.host}]
---
apiVersion: v1
kind: Service
metadata: { name: istio-egressgateway, namespace: ${p.namespace} }
spec:
  selector: { istio: egressgateway }
  ports: [{ name: http, port: ${p.gatewayPort}, targetPort: ${p.gatewayPort} }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: egress-external, namespace: ${p.namespace} }
spec:
  hosts: [${p.host}]
  ${p.addresses ? `addresses: [${p.addresses.join(', ')}]` : ''}
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: http, protocol: HTTP }
    - { number: 443, name: https, protocol: HTTPS }
  endpoints:
    - { address: ${p.endpoint.address}${ports} }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: egress-external, namespace: ${p.namespace} }
spec:
  hosts: [${p.host}]
  gateways: [mesh, egress-gateway]
  http:
    - match: [{ gateways: [mesh], port: 80 }]
      route: [{ destination: { host: ${svc}, port: { number: ${p.gatewayPort} } } }]
    - match: [{ gateways: [egress-gateway], port: ${p.gatewayPort} }]
      route: [{ destination: { host: ${p.host}, port: { number: 443 } } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: egress-external, namespace: ${p.namespace} }
spec:
  host: ${p.host}
  trafficPolicy:
    portLevelSettings:
      - port: { number: 443 }
        tls: { mode: SIMPLE, credentialName: ${p.credentialName}, sni: ${p.host} }
`;
}

/** curl from a pod of the local mesh at `stateDir`; stdout split into the body and the status code. */
export async function curlFromPod(
  stateDir: string,
  pod: { namespace: string; name: string },
  url: string,
  ...args: string[]
): Promise<{ code: number; body: string; status: string; stderr: string }> {
  const argv = ['local', 'exec', '--state-dir', stateDir, '-n', pod.namespace, pod.name, '--'];
  const r = await sh(
    process.execPath,
    [CTL, ...argv, 'curl', '-sS', '-m', '10', '-w', '\\n%{http_code}', ...args, url],
    120_000,
  );
  const lines = r.stdout.split('\n');
  return { code: r.code, status: lines.pop() ?? '', body: lines.join('\n'), stderr: r.stderr };
}
