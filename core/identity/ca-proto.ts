// Loads proto/ca.proto at run time. The file is found by walking up from this module, so it
// works from the sources (core/identity/ under vitest) and from the build (dist/core/identity/).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AmbitError } from '../errors.js';

export const CERTIFICATE_SERVICE = 'ambit.ca.v1.CertificateService';
/** Metadata keys of the certificate service. */
export const CA_METADATA = { authorization: 'authorization', nodeName: 'ambit-node-name' } as const;

export interface CertificateRequestMessage {
  csr: string;
  validityDuration: string | number;
}
export interface CertificateResponseMessage {
  certChain: string[];
}

export function findCaProto(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto', 'ca.proto');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new AmbitError('AMBIT_E_INTERNAL', `proto/ca.proto not found above ${from}`, {
    hint: 'the proto/ folder ships next to dist/',
  });
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The CertificateService: `.service` for servers, `new (address, credentials)` for clients. */
export function certificateService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(findCaProto(), { keepCase: false, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    ambit: { ca: { v1: { CertificateService: grpc.ServiceClientConstructor } } };
  };
  cached = pkg.ambit.ca.v1.CertificateService;
  return cached;
}
