// Helpers for the chart tests: render with the real helm and validate each object against
// the Kubernetes API schemas (kubernetes-models) or, for custom resources, the chart's CRDs.
import { parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { renderManifest, runTool } from '../../ctl/chart/render.js';
import { CRDS, crdObject } from '../../ctl/crds/definitions.js';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
};

export function parseManifest(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export async function render(profile: string, set: string[] = []): Promise<K8sObject[]> {
  return parseManifest(await renderManifest({ profile, set }));
}

export function helm(args: string[]): Promise<string> {
  return runTool('helm', args);
}

/** The kubernetes-models class module for an apiVersion/kind, e.g. apps/v1 Deployment. */
async function modelFor(
  apiVersion: string,
  kind: string,
): Promise<(new (o: unknown) => { validate(): void }) | undefined> {
  const modulePath = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    const mod = (await import(modulePath)) as Record<string, unknown>;
    return mod[kind] as new (o: unknown) => { validate(): void };
  } catch {
    return undefined;
  }
}

/** Throws with the object named when it does not match its Kubernetes schema. */
export async function validateAgainstKubernetes(obj: K8sObject): Promise<void> {
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (!Model) throw new Error(`no Kubernetes schema for ${obj.apiVersion} ${obj.kind} (${obj.metadata.name})`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`, { cause: err });
  }
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

/** Validates a custom resource against the openAPIV3Schema of the chart's CRD. */
export function validateCustomResource(obj: K8sObject): string[] {
  const [group, version] = obj.apiVersion.split('/');
  const crd = CRDS.find((c) => c.group === group && c.kind === obj.kind);
  if (!crd || !version || !crd.versions.includes(version)) return [`no CRD serves ${obj.apiVersion} ${obj.kind}`];
  const spec = crdObject(crd).spec as { versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
  const schema = spec.versions.find((v) => v.name === version)?.schema.openAPIV3Schema;
  const validate = ajv.compile({ ...schema, 'x-kubernetes-preserve-unknown-fields': undefined });
  if (validate({ spec: obj.spec ?? {} })) return [];
  return (validate.errors ?? []).map((e) => `${obj.kind}/${obj.metadata.name}: ${e.instancePath} ${e.message ?? ''}`);
}
