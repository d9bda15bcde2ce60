// Errors with stable codes. They become responses only at the edges (waypoint `respond`,
// agent connection close with a reason); inside, code switches on `code`, never on text.

export type AmbitErrorCode =
  | 'AMBIT_E_SPIFFE_ID'
  | 'AMBIT_E_CSR'
  | 'AMBIT_E_CA'
  | 'AMBIT_E_CERT'
  | 'AMBIT_E_TLS_PEER'
  | 'AMBIT_E_HBONE_CONNECT'
  | 'AMBIT_E_HBONE_STATUS'
  | 'AMBIT_E_HBONE_RESET'
  | 'AMBIT_E_HBONE_POOL'
  | 'AMBIT_E_CONFIG'
  | 'AMBIT_E_AUTHZ_DENIED'
  | 'AMBIT_E_NETNS'
  | 'AMBIT_E_CNI'
  | 'AMBIT_E_XDS'
  | 'AMBIT_E_TIMEOUT'
  | 'AMBIT_E_UPSTREAM'
  | 'AMBIT_E_DNS'
  | 'AMBIT_E_INTERNAL';

export class AmbitError extends Error {
  readonly code: AmbitErrorCode;
  /** What an operator can do about it; shown in logs and CLI output. */
  readonly hint: string | undefined;

  constructor(code: AmbitErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AmbitError';
    this.code = code;
    this.hint = options?.hint;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

export function isAmbitError(err: unknown, code?: AmbitErrorCode): err is AmbitError {
  return err instanceof AmbitError && (code === undefined || err.code === code);
}

/** A one-line description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof AmbitError) return `${err.code}: ${err.message}${err.hint ? ` (hint: ${err.hint})` : ''}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
