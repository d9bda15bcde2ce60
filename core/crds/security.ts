// OpenAPI schemas of security.istio.io resources, written from Istio's API reference.
import { arr, bool, mapOf, obj, oneOfEnum, str, strings, targetRef, workloadSelector } from './schema.js';

const mtlsMode = oneOfEnum('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT');

export const peerAuthentication = obj({
  selector: workloadSelector,
  mtls: obj({ mode: mtlsMode }),
  portLevelMtls: mapOf(obj({ mode: mtlsMode })),
});

const jwtHeader = obj({ name: str, prefix: str }, { required: ['name'] });

export const requestAuthentication = obj({
  selector: workloadSelector,
  targetRef,
  targetRefs: arr(targetRef),
  jwtRules: arr(
    obj({
      issuer: str,
      audiences: strings,
      jwksUri: str,
      /** The older spelling of jwksUri, which Istio's CRD still accepts. */
      jwks_uri: str,
      jwks: str,
      fromHeaders: arr(jwtHeader),
      fromParams: strings,
      fromCookies: strings,
      outputPayloadToHeader: str,
      forwardOriginalToken: bool,
      outputClaimToHeaders: arr(obj({ header: str, claim: str }, { required: ['header', 'claim'] })),
      spaceDelimitedClaims: strings,
      timeout: str,
    }),
  ),
});

const source = obj({
  principals: strings,
  notPrincipals: strings,
  requestPrincipals: strings,
  notRequestPrincipals: strings,
  namespaces: strings,
  notNamespaces: strings,
  ipBlocks: strings,
  notIpBlocks: strings,
  remoteIpBlocks: strings,
  notRemoteIpBlocks: strings,
  serviceAccounts: strings,
  notServiceAccounts: strings,
  trustDomains: strings,
  notTrustDomains: strings,
});

const operation = obj({
  hosts: strings,
  notHosts: strings,
  ports: strings,
  notPorts: strings,
  methods: strings,
  notMethods: strings,
  paths: strings,
  notPaths: strings,
});

export const authorizationPolicy = obj({
  selector: workloadSelector,
  targetRef,
  targetRefs: arr(targetRef),
  rules: arr(
    obj({
      from: arr(obj({ source })),
      to: arr(obj({ operation })),
      when: arr(obj({ key: str, values: strings, notValues: strings }, { required: ['key'] })),
    }),
  ),
  action: oneOfEnum('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'),
  provider: obj({ name: str }),
});
