// Deterministic virtual IPs. ServiceEntry hosts without `addresses` get one automatically, as
// Istio's DNS auto-allocation does: from 240.240.0.0/16 (class E, never routed) and the
// matching address of 2001:2::/48, only for hosts that are not wildcards and whose
// resolution is not NONE, unless the ServiceEntry opts out with the label
// `networking.istio.io/enable-autoallocate-ip: "false"`. The controller's translator and the
// agent's snapshot file loader both allocate here, so the same hosts get the same addresses.
//
// An address is a hash of the key (`<namespace>/<host>`), so it survives restarts and pushes
// without stored state. Keys are allocated in sorted order and a taken slot moves a key to
// the next free one: an address changes only when a new key hashes onto an existing key's
// slot and sorts before it.
import { AmbitError } from '../errors.js';
import type { MeshConfig, Service } from '../model/types.js';

/** Istio's label that turns auto-allocation off for one ServiceEntry. */
export const AUTO_ALLOCATE_LABEL = 'networking.istio.io/enable-autoallocate-ip';
export const AUTO_VIP_V4_BASE: readonly [number, number] = [240, 240];
export const AUTO_VIP_V6_PREFIX = '2001:2::';

const SLOTS = 65_534;

/** FNV-1a of the key: the preferred slot of a key, stable across processes and versions. */
export function vipSlot(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Hash the key, then probe linearly over unused addresses of a /16 (never x.x.0.0 or a last octet of 255). */
export class VipAllocator {
  private readonly used = new Set<string>();
  constructor(
    private readonly base: readonly [number, number],
    private readonly size = SLOTS,
  ) {}
  reserve(ip: string): void {
    this.used.add(ip);
  }
  /** The IPv4 address of the /16 for a slot offset 1..65534. */
  addressAt(offset: number): string {
    return `${this.base[0]}.${this.base[1]}.${offset >> 8}.${offset & 255}`;
  }
  /** The offset (1..65534) of the key's address within the /16. */
  allocateOffset(key: string): number {
    const h = vipSlot(key);
    for (let probe = 0; probe < this.size; probe++) {
      const offset = ((h + probe) % this.size) + 1; // skip .0.0
      const ip = this.addressAt(offset);
      if (!this.used.has(ip) && (offset & 255) !== 255) {
        this.used.add(ip);
        return offset;
      }
    }
    throw new AmbitError('AMBIT_E_CONFIG', `VIP range ${this.base.join('.')}.0.0/16 exhausted`, {
      hint: 'give some ServiceEntries explicit addresses',
    });
  }
  allocate(key: string): string {
    return this.addressAt(this.allocateOffset(key));
  }
}

/** The IPv6 auto VIP paired with the IPv4 one at the same offset. */
export function autoVipV6(offset: number): string {
  return `${AUTO_VIP_V6_PREFIX}${offset.toString(16)}`;
}

export interface AutoAllocateCandidate {
  readonly host: string;
  readonly resolution: string | undefined;
  /** The ServiceEntry's `addresses`. */
  readonly addresses: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

/** Whether Istio would auto-allocate an address for this host of a ServiceEntry. */
export function wantsAutoVip(c: AutoAllocateCandidate): boolean {
  if (c.addresses.length > 0) return false;
  if (c.host.startsWith('*')) return false;
  if ((c.resolution ?? 'NONE') === 'NONE') return false;
  return c.labels?.[AUTO_ALLOCATE_LABEL] !== 'false';
}

/** Auto VIPs of ServiceEntry hosts: one IPv4 address of 240.240.0.0/16 and its IPv6 pair per key. */
export class AutoVipAllocator {
  private readonly v4 = new VipAllocator(AUTO_VIP_V4_BASE);
  /** Addresses already taken (explicit ServiceEntry addresses in the range). */
  reserve(ip: string): void {
    this.v4.reserve(ip);
  }
  allocate(key: string): readonly [string, string] {
    const offset = this.v4.allocateOffset(key);
    return [this.v4.addressAt(offset), autoVipV6(offset)];
  }
}

/**
 * Auto VIPs for a set of keys, independent of the order they are given in: every explicit
 * address is reserved first, then keys are allocated in sorted order.
 */
export function allocateAutoVips(
  keys: Iterable<string>,
  explicit: Iterable<string> = [],
): Map<string, readonly [string, string]> {
  const alloc = new AutoVipAllocator();
  for (const ip of explicit) alloc.reserve(ip);
  const out = new Map<string, readonly [string, string]>();
  for (const key of [...new Set(keys)].sort()) out.set(key, alloc.allocate(key));
  return out;
}

/**
 * Services as given, with auto VIPs for the ServiceEntry hosts that want one and have none
 * (the agent's snapshot file: hosts written without addresses get what the controller would
 * give them). Every address already given is reserved.
 */
export function withAutoVips<S extends Pick<Service, 'namespace' | 'hostname' | 'vips' | 'resolution'>>(
  services: readonly S[],
  mesh: Pick<MeshConfig, 'dnsAutoAllocate'>,
): S[] {
  if (mesh.dnsAutoAllocate === false) return [...services];
  const key = (s: S): string => `${s.namespace}/${s.hostname}`;
  const wanting = services.filter((s) =>
    wantsAutoVip({ host: s.hostname, resolution: s.resolution, addresses: s.vips }),
  );
  if (wanting.length === 0) return [...services];
  const vips = allocateAutoVips(
    wanting.map(key),
    services.flatMap((s) => s.vips),
  );
  return services.map((s) => {
    const pair = s.vips.length === 0 ? vips.get(key(s)) : undefined;
    return pair ? { ...s, vips: [...pair] } : s;
  });
}
