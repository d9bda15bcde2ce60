// The gRPC ext-authz provider of Istio's ext-authz task is refused by name at translation,
// without dropping the rest of the mesh settings.
import { describe, expect, it } from 'vitest';
import { extensionProvidersFrom } from './extension-providers.js';
import { Issues } from './validate/common.js';
import { decode } from '../../core/crds/decode.js';
import { extensionProvider, type ExtensionProviderDoc } from '../../core/crds/mesh-config.js';
import { arr } from '../../core/crds/schema.js';

/** Providers as MeshConfig decoding hands them over. */
function decoded(list: unknown): readonly ExtensionProviderDoc[] {
  const problems: string[] = [];
  const value = decode(arr(extensionProvider), list, 'extensionProviders', (at, why) => problems.push(`${at}: ${why}`));
  expect(problems).toEqual([]);
  return value ?? [];
}

describe('extensionProvidersFrom', () => {
  it('keeps envoyExtAuthzGrpc with the reason Ambit cannot call it, and no issue', () => {
    const issues = new Issues();
    const providers = extensionProvidersFrom(
      decoded([
        {
          name: 'sample-ext-authz-grpc',
          envoyExtAuthzGrpc: { service: 'ext-authz.foo.svc.cluster.local', port: 9000 },
        },
        {
          name: 'sample-ext-authz-http',
          envoyExtAuthzHttp: { service: 'ext-authz.foo.svc.cluster.local', port: 8000 },
        },
      ]),
      issues,
    );
    expect(issues.list).toEqual([]);
    expect(providers).toEqual([
      {
        name: 'sample-ext-authz-grpc',
        unsupported: 'envoyExtAuthzGrpc cannot serve as an ext-authz provider in Ambit (only envoyExtAuthzHttp)',
      },
      { name: 'sample-ext-authz-http', envoyExtAuthzHttp: { service: 'ext-authz.foo.svc.cluster.local', port: 8000 } },
    ]);
  });
});
