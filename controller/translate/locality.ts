// Istio's locality text `region/zone/subzone` (WorkloadEntry, ServiceEntry endpoints) → the
// model's Locality; empty parts are left out.
import { compact } from './collections.js';
import type { Locality } from '../../core/model/types.js';

export function localityFromText(text: string | undefined): Locality | undefined {
  if (!text) return undefined;
  const [region, zone, subzone] = text.split('/');
  return compact({ region: region || undefined, zone: zone || undefined, subzone: subzone || undefined });
}
