// Loads proto/discovery.proto at run time and describes its messages in TypeScript.
// The file is found by walking up from this module, so it works both from the sources
// (core/xds/ under vitest) and from the build (dist/core/xds/).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AmbitError } from '../errors.js';

export interface NodeInfo {
  name: string;
  role: 'agent' | 'waypoint' | string;
  namespace: string;
  metadata: Record<string, string>;
}

export interface ResourceError {
  name: string;
  message: string;
}
export interface ErrorDetail {
  message: string;
  resources: ResourceError[];
}

export interface DeltaRequest {
  node?: NodeInfo | null;
  typeUrl: string;
  initialVersions: Record<string, string>;
  responseNonce: string;
  errorDetail?: ErrorDetail | null;
  /** On-demand subscriptions by address or hostname (see proto/discovery.proto). */
  resourceNamesSubscribe?: string[];
}

export interface WireResource {
  name: string;
  version: string;
  body: string;
}

export interface DeltaResponse {
  typeUrl: string;
  systemVersion: string;
  resources: WireResource[];
  removedResources: string[];
  nonce: string;
  /** The on-demand subscriptions this response completes. */
  answeredSubscriptions?: string[];
}

export const DISCOVERY_SERVICE = 'ambit.discovery.v1.MeshDiscovery';

/** Finds `proto/<file>` in this module's folder or one of its parents. */
export function findProtoFile(file: string, from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto', file);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new AmbitError('AMBIT_E_INTERNAL', `proto/${file} not found above ${from}`, {
    hint: 'the proto/ folder ships next to dist/',
  });
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The MeshDiscovery service: `.service` for servers, `new (addr, creds)` for clients. */
export function discoveryService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(findProtoFile('discovery.proto'), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    ambit: { discovery: { v1: { MeshDiscovery: grpc.ServiceClientConstructor } } };
  };
  cached = pkg.ambit.discovery.v1.MeshDiscovery;
  return cached;
}
