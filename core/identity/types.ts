// Identity interfaces shared by the CA, the certificate store and the HBONE client/server.

/** What a TLS endpoint needs to present and verify one SPIFFE identity. */
export interface Credentials {
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  readonly identity: string;
  /** PEM: private key (PKCS#8). */
  readonly keyPem: string;
  /** PEM: leaf first, then intermediates up to (not including) the root. */
  readonly certChainPem: string;
  /** PEM: the trust bundle (one or more roots). */
  readonly rootsPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Something that signs a CSR for an identity: the in-process CA or the controller's CA service. */
export interface CaClient {
  /**
   * Sign `csrPem` for `identity` with a lifetime of `ttlSeconds`.
   * Returns the leaf + chain (PEM, leaf first) and the trust bundle (PEM).
   */
  sign(request: {
    csrPem: string;
    identity: string;
    ttlSeconds: number;
  }): Promise<{ certChainPem: string; rootsPem: string }>;
}
