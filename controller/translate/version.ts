// Content-derived versions: the same config always gets the same version, so the discovery
// server can skip pushes that change nothing.
//
// A config's version hashes each field; a field that is a list of objects (a waypoint's
// clusters and virtual hosts: megabytes at 10,000 services) is hashed item by item, and an
// item's hash is remembered per object. The incremental translator keeps the objects of the
// items it did not rebuild, so a pod change re-hashes the clusters it rebuilt, not the whole
// config. The model is immutable data: an object never changes after it is hashed.
import { createHash } from 'node:crypto';

const itemHashes = new WeakMap<object, string>();

function itemHash(item: object): string {
  let h = itemHashes.get(item);
  if (h === undefined) {
    h = createHash('sha256').update(JSON.stringify(item)).digest('base64url').slice(0, 22);
    itemHashes.set(item, h);
  }
  return h;
}

const isObjectList = (v: unknown): v is object[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));

export function contentVersionOf(value: unknown): string {
  const h = createHash('sha256');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    h.update(JSON.stringify(value) ?? 'undefined');
  } else {
    for (const [key, field] of Object.entries(value)) {
      if (field === undefined) continue; // as JSON.stringify: an undefined field is absent
      h.update(JSON.stringify(key));
      if (isObjectList(field)) {
        h.update(`[${field.length}`);
        for (const item of field) h.update(itemHash(item));
        h.update(']');
      } else {
        h.update(`=${JSON.stringify(field)};`);
      }
    }
  }
  return h.digest('hex').slice(0, 16);
}
