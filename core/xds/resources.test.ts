import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import type { MeshSnapshot } from '../model/types.js';
import {
  TYPE_AUTHORIZATION_POLICY,
  TYPE_MESH_CONFIG,
  TYPE_PEER_AUTHENTICATION,
  TYPE_SERVICE,
  TYPE_WAYPOINT_CONFIG,
  TYPE_WORKLOAD,
  assembleSnapshot,
  decodeResource,
  snapshotResources,
} from './resources.js';
import { findProtoFile } from './proto.js';

const wl = {
  uid: 'Pod/shop/web',
  kind: 'Pod',
  name: 'web',
  namespace: 'shop',
  serviceAccount: 'web',
  identity: 'spiffe://cluster.local/ns/shop/sa/web',
  ips: ['10.0.0.1'],
  node: 'n',
  labels: {},
  enrolled: true,
};

describe('discovery resources', () => {
  it('splits a snapshot into resources and assembles it back', () => {
    const s: MeshSnapshot = {
      version: 'v9',
      mesh: DEFAULT_MESH_CONFIG,
      workloads: [wl as MeshSnapshot['workloads'][number]],
      services: [],
      authorizationPolicies: [
        { key: 'shop/p', name: 'p', scope: { namespace: 'shop', level: 'namespace' }, action: 'DENY', rules: [] },
      ],
      peerAuthentications: [],
    };
    const back = assembleSnapshot('v9', snapshotResources(s));
    expect(back).toEqual(s);
    expect(assembleSnapshot('v', new Map([[TYPE_WORKLOAD, new Map()]]))).toBeUndefined(); // no MeshConfig yet
  });

  const svc = {
    key: 'shop/a.shop.svc.cluster.local',
    name: 'a',
    namespace: 'shop',
    hostname: 'a.shop.svc.cluster.local',
    vips: ['10.96.0.1'],
    ports: [{ port: 80, targetPort: 8080, protocol: 'http' }],
    endpoints: [{ address: '10.0.0.1' }],
  };
  const scope = { namespace: 'shop', level: 'namespace' };
  it.each([
    [TYPE_WORKLOAD, { ...wl, ips: '10.0.0.1' }, /Pod\/shop\/web: field ips: expected a list/],
    [TYPE_WORKLOAD, { ...wl, ips: ['10.0.0.1', 'web'] }, /field ips\[1\]: not an IP address/],
    [TYPE_WORKLOAD, { ...wl, identity: '' }, /field identity/],
    [TYPE_WORKLOAD, { ...wl, enrolled: 'yes' }, /field enrolled: expected true or false/],
    [TYPE_SERVICE, { ...svc, ports: {} }, /field ports: expected a list/],
    [TYPE_SERVICE, { ...svc, ports: [{ port: 80, targetPort: 0, protocol: 'tcp' }] }, /field ports\[0\]\.targetPort/],
    [TYPE_SERVICE, { ...svc, endpoints: [{ address: 'db.example.com' }] }, /field endpoints\[0\]\.address/],
    [TYPE_SERVICE, { ...svc, vips: ['10.96.0.0/33'] }, /field vips\[0\]: not an IP address or CIDR/],
    [TYPE_AUTHORIZATION_POLICY, { key: 'k', name: 'p', scope, action: 'MAYBE', rules: [] }, /field action/],
    [
      TYPE_PEER_AUTHENTICATION,
      { key: 'k', name: 'p', scope: { namespace: 'shop', level: 'galaxy' }, mode: 'STRICT' },
      /field scope\.level/,
    ],
    [TYPE_MESH_CONFIG, { ...DEFAULT_MESH_CONFIG, trustDomain: undefined }, /field trustDomain/],
    [TYPE_MESH_CONFIG, { ...DEFAULT_MESH_CONFIG, traceSampling: 101 }, /field traceSampling/],
    [
      TYPE_WAYPOINT_CONFIG,
      { namespace: 'shop', mesh: {}, virtualHosts: null, clusters: [], authorizationPolicies: [] },
      /field virtualHosts/,
    ],
  ])('rejects a malformed %s naming the field', (type, value, message) => {
    expect(() => decodeResource(type, 'Pod/shop/web', JSON.stringify(value))).toThrow(message);
  });

  it('accepts what the model allows: DNS endpoints, CIDR VIPs, a WorkloadEntry host name, unknown fields', () => {
    const dns = { ...svc, resolution: 'DNS', vips: ['240.240.0.0/16'], endpoints: [{ address: 'db.example.com' }] };
    expect(decodeResource(TYPE_SERVICE, 'r', JSON.stringify(dns))).toEqual(dns);
    const we = { ...wl, uid: 'WorkloadEntry/shop/vm', kind: 'WorkloadEntry', ips: ['vm-1.example.com'], extra: 1 };
    expect(decodeResource(TYPE_WORKLOAD, 'r', JSON.stringify(we))).toEqual(we);
  });

  it('rejects a body that is not a JSON object', () => {
    expect(() => decodeResource(TYPE_WORKLOAD, 'r1', '{oops')).toThrow(/r1: body is not JSON/);
    expect(() => decodeResource(TYPE_WORKLOAD, 'r1', '[1]')).toThrow(/must be a JSON object/);
  });

  it('finds proto/discovery.proto from the sources and from a build folder', async () => {
    expect(findProtoFile('discovery.proto')).toMatch(/proto\/discovery\.proto$/);
    const root = await mkdtemp(path.join(tmpdir(), 'ambit-proto-'));
    try {
      await mkdir(path.join(root, 'proto'));
      await mkdir(path.join(root, 'dist', 'core', 'xds'), { recursive: true });
      await writeFile(path.join(root, 'proto', 'discovery.proto'), 'syntax = "proto3";');
      expect(findProtoFile('discovery.proto', path.join(root, 'dist', 'core', 'xds'))).toBe(
        path.join(root, 'proto', 'discovery.proto'),
      );
      expect(() => findProtoFile('missing.proto', path.join(root, 'dist', 'core', 'xds'))).toThrow(
        /proto\/missing.proto not found/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
