// The DestinationRule, ServiceEntry and Gateway analyzers read decoded objects: one the schema
// refuses is reported once, as IST0106 with its field and file:line, and no analyzer reads it;
// the Services a Gateway's port is checked against are read with int-or-string target ports.
import { describe, expect, it } from 'vitest';
import { parseYamlFile } from '../sources/file-parse.js';
import { objectKey } from '../sources/types.js';
import { analyze, type Message } from './index.js';

const FILE = 'mesh.yaml';

const BASE = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Pod
metadata: { name: ingress-1, namespace: shop, labels: { istio: ingress } }
status: { podIP: 10.1.0.9 }
---
apiVersion: v1
kind: Service
metadata: { name: ingress, namespace: shop }
spec: { selector: { istio: ingress }, ports: [{ name: http, port: 80, targetPort: http-web }] }
`;

function run(yaml: string): { messages: Message[]; line: number } {
  const { documents, problems } = parseYamlFile(`${BASE}---\n${yaml}`, FILE);
  expect(problems).toEqual([]);
  const origins = new Map(documents.map((d) => [objectKey(d.object), d.origin] as const));
  return {
    messages: analyze(
      documents.map((d) => d.object),
      { origins },
    ),
    line: BASE.split('\n').length + 1,
  };
}

const codes = (messages: readonly Message[]): string[] => messages.map((m) => `${m.type.code} ${m.field ?? ''}`);

/** A DestinationRule with SIMPLE TLS and no CA, its names field spelled `field`. */
const simpleTlsRule = (field: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: shop }
spec:
  host: api.example.com
  trafficPolicy: { tls: { mode: SIMPLE, ${field}: [api.example.com] } }
`;

describe('traffic analyzers on decoded objects', () => {
  it('a DestinationRule the schema refuses: IST0106 with field and file:line, no TLS finding from it', () => {
    const { messages, line } = run(simpleTlsRule('subjectAltName'));
    expect(codes(messages)).toEqual(['IST0106 spec.trafficPolicy.tls.subjectAltName']);
    expect(messages[0]?.origin).toMatchObject({ kind: 'DestinationRule', name: 'api', file: FILE, line });
  });

  it('the same DestinationRule spelled right: IST0128 at its tls', () => {
    const { messages } = run(simpleTlsRule('subjectAltNames'));
    expect(codes(messages)).toEqual(['IST0128 spec.trafficPolicy.tls']);
  });

  it('IST0104 against Services with a named targetPort: port 80 is exposed, 8443 is not', () => {
    const { messages } = run(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingress }
  servers:
    - { port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }
    - { port: { number: 8443, name: tls, protocol: TLS }, hosts: ["*"], tls: { mode: PASSTHROUGH } }
`);
    expect(codes(messages)).toEqual(['IST0104 spec.servers[1].port.number']);
  });
});
