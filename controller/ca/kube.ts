// Kube mode for the CA: the root lives in a Secret, and tokens are checked with TokenReview.
// A plugged-in CA is Istio's `cacerts` Secret (same keys as the files); otherwise the
// controller generates a root once and keeps it in `ambit-ca` (created, never overwritten:
// a second controller that loses the creation race loads the winner's root).

import { AuthenticationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { CA_FILES, type CaMaterial, type CaMaterialStore } from '../../core/identity/ca-files.js';
import { cachedTokenReview } from '../state/token-cache.js';
import {
  DEFAULT_TOKEN_AUDIENCE,
  tokenReviewAuthenticator,
  type Authenticate,
  type BoundObjectLookup,
  type TokenReviewResult,
} from './auth.js';

export const GENERATED_CA_SECRET = 'ambit-ca';
export const PLUGGED_IN_CA_SECRET = 'cacerts';

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function kubeError(
  what: string,
  err: unknown,
  hint = 'the controller needs get/create on Secrets in its namespace (see the chart RBAC)',
): AmbitError {
  return new AmbitError('AMBIT_E_CA', `${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, {
    hint,
    cause: err,
  });
}

/** CA material in a Secret's data (keys = Istio's file names, values base64 as usual). */
export function secretCaStore(kc: KubeConfig, namespace: string, name: string): CaMaterialStore {
  const core = kc.makeApiClient(CoreV1Api);
  const describe = (key: string): string => `Secret ${namespace}/${name}${key ? ` key ${key}` : ''}`;
  return {
    describe,
    async load() {
      let data: Record<string, string> | undefined;
      try {
        data = (await core.readNamespacedSecret({ name, namespace })).data;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw kubeError(`cannot read ${describe('')}`, err);
      }
      const material: CaMaterial = {};
      for (const key of Object.values(CA_FILES)) {
        const value = data?.[key];
        if (value !== undefined) material[key] = Buffer.from(value, 'base64').toString('utf8');
      }
      return material;
    },
    async save(material) {
      const data: Record<string, string> = {};
      for (const [key, value] of Object.entries(material)) data[key] = Buffer.from(value, 'utf8').toString('base64');
      try {
        await core.createNamespacedSecret({
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'ambit' } },
            type: 'Opaque',
            data,
          },
        });
        return 'saved';
      } catch (err) {
        if (statusOf(err) === 409) return 'exists';
        throw kubeError(`cannot create ${describe('')}`, err);
      }
    },
  };
}

/** The controller's CA in kube mode: `cacerts` when plugged in, else `ambit-ca` (generated on first start). */
export async function loadKubeCa(
  kc: KubeConfig,
  opts: { namespace: string; trustDomain: string; log?: Logger },
): Promise<CertificateAuthority> {
  const plugged = await CertificateAuthority.loadFrom(secretCaStore(kc, opts.namespace, PLUGGED_IN_CA_SECRET), {
    trustDomain: opts.trustDomain,
  });
  if (plugged) {
    opts.log?.info('using the plugged-in CA', { secret: `${opts.namespace}/${PLUGGED_IN_CA_SECRET}` });
    return plugged;
  }
  const ca = await CertificateAuthority.loadOrCreateFrom(secretCaStore(kc, opts.namespace, GENERATED_CA_SECRET), {
    trustDomain: opts.trustDomain,
  });
  opts.log?.info('using the Ambit CA', { secret: `${opts.namespace}/${GENERATED_CA_SECRET}` });
  return ca;
}

/** reviewToken for tokenReviewAuthenticator, through the API server's TokenReview, for `audiences`. */
export function kubeTokenReviewer(
  kc: KubeConfig,
  opts: { audiences: readonly string[] },
): (token: string) => Promise<TokenReviewResult> {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    let review;
    try {
      review = await authn.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [...opts.audiences] },
        },
      });
    } catch (err) {
      throw kubeError('TokenReview failed', err, 'the controller needs create on tokenreviews (see the chart RBAC)');
    }
    const status = review.status ?? {};
    return {
      authenticated: status.authenticated === true,
      ...(status.user?.username ? { username: status.user.username } : {}),
      ...(status.user?.extra ? { extra: status.user.extra } : {}),
      ...(status.audiences ? { audiences: status.audiences } : {}),
      ...(status.error ? { error: status.error } : {}),
    };
  };
}

/** Pods and nodes read through the API (GET), for the pod or node a token is bound to. */
export function kubeBoundObjectLookup(kc: KubeConfig): BoundObjectLookup {
  const core = kc.makeApiClient(CoreV1Api);
  const hint = 'the controller needs get on pods and nodes (see the chart RBAC)';
  return {
    async pod(namespace, name) {
      try {
        const pod = await core.readNamespacedPod({ name, namespace });
        return {
          uid: pod.metadata?.uid ?? '',
          ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
          serviceAccount: pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default',
        };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw kubeError(`cannot read pod ${namespace}/${name}`, err, hint);
      }
    },
    async node(name) {
      try {
        return { uid: (await core.readNode({ name })).metadata?.uid ?? '' };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw kubeError(`cannot read node ${name}`, err, hint);
      }
    },
  };
}

/**
 * The CA's authenticator in kube mode: TokenReview for `audience` (cached: positive 30 s,
 * negative 5 s), bound pods and nodes read through the API.
 */
export function kubeCaAuthenticator(
  kc: KubeConfig,
  opts: { trustDomain: string; audience?: string; agentServiceAccounts?: readonly string[] },
): Authenticate {
  const audience = opts.audience ?? DEFAULT_TOKEN_AUDIENCE;
  return tokenReviewAuthenticator({
    reviewToken: cachedTokenReview(kubeTokenReviewer(kc, { audiences: [audience] })),
    lookup: kubeBoundObjectLookup(kc),
    trustDomain: opts.trustDomain,
    audience,
    ...(opts.agentServiceAccounts ? { agentServiceAccounts: opts.agentServiceAccounts } : {}),
  });
}
