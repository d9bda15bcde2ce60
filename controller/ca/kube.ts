// Kube mode for the CA: the root lives in a Secret, and tokens are checked with TokenReview.
// A plugged-in CA is Istio's `cacerts` Secret (same keys as the files); otherwise the
// controller generates a root once and keeps it in `ambit-ca` (created, never overwritten:
// a second controller that loses the creation race loads the winner's root).

import { AuthenticationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { CA_FILES, type CaMaterial, type CaMaterialStore } from '../../core/identity/ca-files.js';
import type { TokenReviewResult } from './auth.js';

export const GENERATED_CA_SECRET = 'ambit-ca';
export const PLUGGED_IN_CA_SECRET = 'cacerts';

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function kubeError(what: string, err: unknown): AmbitError {
  return new AmbitError('AMBIT_E_CA', `${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, {
    hint: 'the controller needs get/create on Secrets in its namespace (see the chart RBAC)', cause: err,
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
        await core.createNamespacedSecret({ namespace, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'ambit' } }, type: 'Opaque', data } });
        return 'saved';
      } catch (err) {
        if (statusOf(err) === 409) return 'exists';
        throw kubeError(`cannot create ${describe('')}`, err);
      }
    },
  };
}

/** The controller's CA in kube mode: `cacerts` when plugged in, else `ambit-ca` (generated on first start). */
export async function loadKubeCa(kc: KubeConfig, opts: { namespace: string; trustDomain: string; log?: Logger }): Promise<CertificateAuthority> {
  const plugged = await CertificateAuthority.loadFrom(secretCaStore(kc, opts.namespace, PLUGGED_IN_CA_SECRET), { trustDomain: opts.trustDomain });
  if (plugged) {
    opts.log?.info('using the plugged-in CA', { secret: `${opts.namespace}/${PLUGGED_IN_CA_SECRET}` });
    return plugged;
  }
  const ca = await CertificateAuthority.loadOrCreateFrom(secretCaStore(kc, opts.namespace, GENERATED_CA_SECRET), { trustDomain: opts.trustDomain });
  opts.log?.info('using the Ambit CA', { secret: `${opts.namespace}/${GENERATED_CA_SECRET}` });
  return ca;
}

/** reviewToken for tokenReviewAuthenticator, through the API server's TokenReview. */
export function kubeTokenReviewer(kc: KubeConfig, opts: { audiences?: string[] } = {}): (token: string) => Promise<TokenReviewResult> {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    let review;
    try {
      review = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(opts.audiences ? { audiences: opts.audiences } : {}) } } });
    } catch (err) {
      throw kubeError('TokenReview failed', err);
    }
    const status = review.status ?? {};
    return {
      authenticated: status.authenticated === true,
      ...(status.user?.username ? { username: status.user.username } : {}),
      ...(status.user?.extra ? { extra: status.user.extra } : {}),
      ...(status.error ? { error: status.error } : {}),
    };
  };
}
