/**
 * The one error type of the project, with a closed catalogue of stable codes (like Fastify's FST_ERR_*).
 * Every layer throws AdmissionError; the HTTP boundary and the CLI turn it into a status / exit code.
 */

export const ERROR_CATALOGUE = {
  AC_ERR_INVALID_MODEL: { status: 422, title: 'The admission model is invalid' },
  AC_ERR_MODEL_DIRECTORY: { status: 400, title: 'The model directory cannot be read' },
  AC_ERR_RESULT_CSV: { status: 400, title: 'The result.csv file cannot be read' },
  AC_ERR_BAD_ARGUMENT: { status: 400, title: 'A command-line argument or option is invalid' },
  AC_ERR_SOLVER_UNAVAILABLE: { status: 501, title: 'The requested solver is not available' },
  AC_ERR_SOLVER_FAILED: { status: 500, title: 'The solver failed' },
  AC_ERR_VERIFICATION_FAILED: { status: 500, title: 'A solution failed independent verification' },
  AC_ERR_MALFORMED_XML: { status: 400, title: 'The XML document is malformed' },
  AC_ERR_FORBIDDEN_XML: { status: 400, title: 'The XML document uses a forbidden construct' },
  AC_ERR_INVALID_MANIFEST: { status: 422, title: 'The service manifest is invalid' },
  AC_ERR_INVALID_REQUEST: { status: 400, title: 'The request is invalid' },
  AC_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The content type is not supported' },
  AC_ERR_BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  AC_ERR_NOT_FOUND: { status: 404, title: 'The resource does not exist' },
  AC_ERR_CONFLICT: { status: 409, title: 'The resource was changed concurrently' },
  AC_ERR_UNAUTHORIZED: { status: 401, title: 'Authentication is required' },
  AC_ERR_FORBIDDEN: { status: 403, title: "The principal's role or ownership does not allow this" },
  AC_ERR_CAPACITY_CONFLICT: { status: 409, title: 'The capacity is not free (any more)' },
  AC_ERR_IDEMPOTENCY_MISMATCH: { status: 422, title: 'The idempotency key was used for a different request' },
  AC_ERR_LIMIT_EXCEEDED: { status: 413, title: 'The request exceeds a configured limit' },
  AC_ERR_HOST_INFO_STALE: { status: 503, title: 'The host capacity snapshot is too old or not trustworthy' },
  AC_ERR_UPSTREAM: { status: 502, title: 'An upstream service failed' },
  AC_ERR_TIMEOUT: { status: 503, title: 'The request did not finish in time' },
  /** Nobody receives it: the status (nginx's 499) is for logs and metrics. */
  AC_ERR_CLIENT_CLOSED: { status: 499, title: 'The client closed the connection before its answer' },
  AC_ERR_CONFIG: { status: 500, title: 'The configuration is invalid' },
  AC_ERR_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** One precise problem: where (a field path, or file:line) and why. */
export interface ErrorDetail {
  /** Field path (`services[0].components[1].maxVms`), XML element, or `file:line`. */
  readonly field: string;
  readonly reason: string;
}

export class AdmissionError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly ErrorDetail[];

  constructor(code: ErrorCode, message: string, details: readonly ErrorDetail[] = []) {
    super(message);
    this.name = 'AdmissionError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: readonly ErrorDetail[] } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isAdmissionError(error: unknown): error is AdmissionError {
  return error instanceof AdmissionError;
}
