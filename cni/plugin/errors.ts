// CNI errors: the spec's well-known codes plus ours (100+), printed as the spec's error JSON.
export const CNI_CODES = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  /** The agent answered but refused to enrol the pod. */
  AGENT_REFUSED: 100,
  /** Writing or removing the capture rules in the pod netns failed. */
  RULES_FAILED: 101,
  /** CHECK found the capture incomplete. */
  CHECK_FAILED: 102,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toResult(cniVersion: string): { cniVersion: string; code: number; msg: string; details: string } {
    return { cniVersion, code: this.code, msg: this.message, details: this.details };
  }
}
