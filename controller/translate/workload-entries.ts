// What a WorkloadEntry contributes to its mesh Workload, read from the decoded WorkloadEntry and
// its WorkloadGroup (the `istio.io/autoRegistrationGroup` annotation names it): labels (group
// metadata < template < entry), service account, address and locality. workloads.ts builds the
// Workload (identity, enrolment) from these.
import { compact } from './raw.js';
import type { IstioObject } from './decode-object.js';
import type { WorkloadEntrySpec, WorkloadGroupSpec } from '../../core/crds/types.js';
import type { Labels, Locality } from '../../core/model/types.js';

export const AUTO_REGISTRATION_GROUP = 'istio.io/autoRegistrationGroup';

export interface WorkloadEntryFields {
  /** The WorkloadGroup the entry was registered from, if it names one. */
  readonly groupName: string | undefined;
  readonly labels: Labels;
  readonly serviceAccount: string | undefined;
  readonly ips: string[];
  readonly locality: Locality | undefined;
}

/** Istio's `region/zone/subzone` locality text (WorkloadEntry, ServiceEntry endpoints) → a Locality. */
export function localityFromText(text: string | undefined): Locality | undefined {
  if (!text) return undefined;
  const [region, zone, subzone] = text.split('/');
  return compact({ region: region || undefined, zone: zone || undefined, subzone: subzone || undefined });
}

/** `groups` is keyed `<namespace>/<name>`. */
export function workloadEntryFields(
  we: IstioObject<WorkloadEntrySpec>,
  groups: ReadonlyMap<string, IstioObject<WorkloadGroupSpec>>,
): WorkloadEntryFields {
  const ns = we.metadata.namespace ?? 'default';
  const groupName = we.metadata.annotations?.[AUTO_REGISTRATION_GROUP];
  const group = groupName ? groups.get(`${ns}/${groupName}`)?.spec : undefined;
  const template = group?.template;
  const { spec } = we;
  return {
    groupName,
    labels: { ...group?.metadata?.labels, ...template?.labels, ...spec.labels },
    serviceAccount: spec.serviceAccount ?? template?.serviceAccount,
    ips: spec.address ? [spec.address] : [],
    locality: localityFromText(spec.locality ?? template?.locality),
  };
}
