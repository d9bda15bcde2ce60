// The chart installs a CRD for every custom resource the controller watches (Istio's from
// ctl/crds, the Gateway API's from crds/gateway-api.yaml, installed by Helm only when
// missing), serving the version the controller asks for first, and with the status
// subresource wherever the controller writes status.
import { describe, expect, it } from 'vitest';
import { WATCHED_KINDS } from '../../controller/sources/kube-kinds.js';
import { render } from '../support/manifests.js';

interface Crd {
  metadata: { name: string };
  spec: { names: { kind: string }; versions: Array<{ name: string; served: boolean; subresources?: { status?: object } }> };
}

describe('chart CRDs', () => {
  it('every watched custom resource has a CRD; the Gateway API kinds with the status subresource', async () => {
    const crds = (await render('default')).filter((o) => o.kind === 'CustomResourceDefinition') as unknown as Crd[];
    const byName = new Map(crds.map((c) => [c.metadata.name, c]));
    const missing: string[] = [];
    for (const k of WATCHED_KINDS.filter((w) => w.optional)) {
      const crd = byName.get(`${k.plural}.${k.group}`);
      const served = crd?.spec.versions.filter((v) => v.served).map((v) => v.name) ?? [];
      if (!crd || crd.spec.names.kind !== k.kind || !served.includes(k.versions[0]!)) missing.push(`${k.plural}.${k.group}`);
    }
    expect(missing).toEqual([]);
    for (const plural of ['gateways', 'httproutes', 'grpcroutes']) {
      const crd = byName.get(`${plural}.gateway.networking.k8s.io`)!;
      expect(crd.spec.versions.every((v) => v.subresources?.status !== undefined)).toBe(true);
    }
  });
});
