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

  it.each([
    [TYPE_WORKLOAD, { ...wl, ips: '10.0.0.1' }, /field ips: must be an array/],
    [TYPE_WORKLOAD, { ...wl, identity: '' }, /field identity/],
    [TYPE_SERVICE, { key: 'shop/a', hostname: 'a', vips: [], ports: {}, endpoints: [] }, /field ports/],
    [
      TYPE_AUTHORIZATION_POLICY,
      { key: 'k', scope: { namespace: 'shop', level: 'namespace' }, action: 'MAYBE', rules: [] },
      /field action/,
    ],
    [
      TYPE_PEER_AUTHENTICATION,
      { key: 'k', scope: { namespace: 'shop', level: 'galaxy' }, mode: 'STRICT' },
      /field scope/,
    ],
    [TYPE_MESH_CONFIG, { rootNamespace: 'istio-system' }, /field trustDomain/],
    [
      TYPE_WAYPOINT_CONFIG,
      { namespace: 'shop', mesh: {}, virtualHosts: null, clusters: [], authorizationPolicies: [] },
      /field virtualHosts/,
    ],
  ])('rejects a malformed %s naming the field', (type, value, message) => {
    expect(() => decodeResource(type, 'r1', JSON.stringify(value))).toThrow(message);
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
