/** The closed set of error codes Slipway uses everywhere; one table maps them to HTTP status. */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'POLICY'
  | 'EXEC_FAILED'
  | 'UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'INTERNAL';

/** HTTP status for each error code (the API's one mapping). */
export const httpStatusOf: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  POLICY: 422,
  EXEC_FAILED: 502,
  UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  INTERNAL: 500,
};

/** One problem in user input, with where it is (a path into the document, and a line when known). */
export interface Problem {
  path: string;
  message: string;
  line?: number;
  file?: string;
}

/** The one error type of Slipway. `details` is structured and safe to show to API clients. */
export class SlipwayError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SlipwayError';
    this.code = code;
    this.details = details;
  }
}

/** A named thing does not exist. */
export class NotFoundError extends SlipwayError {
  constructor(kind: string, id: string | number) {
    super('NOT_FOUND', `${kind} ${JSON.stringify(String(id))} not found`, { kind, id });
    this.name = 'NotFoundError';
  }
}

/** User input is wrong; every problem found is listed at once. */
export class ValidationError extends SlipwayError {
  readonly problems: Problem[];

  constructor(message: string, problems: Problem[]) {
    super('INVALID', `${message}:\n${problems.map(formatProblem).join('\n')}`, { problems });
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** The request conflicts with current state (e.g. a deployment already running). */
export class ConflictError extends SlipwayError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFLICT', message, details);
    this.name = 'ConflictError';
  }
}

/** A policy (dependencies, windows, approvals) refuses the request. */
export class PolicyError extends SlipwayError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('POLICY', message, details);
    this.name = 'PolicyError';
  }
}

/** Renders a problem as `file:line: path: message`, leaving out what is unknown. */
export function formatProblem(p: Problem): string {
  const where = [p.file, p.line !== undefined ? String(p.line) : undefined]
    .filter(Boolean)
    .join(':');
  return `  ${where ? `${where}: ` : ''}${p.path || '(root)'}: ${p.message}`;
}

/** True when `e` is a SlipwayError with the given code. */
export function isSlipwayError(e: unknown, code?: ErrorCode): e is SlipwayError {
  return e instanceof SlipwayError && (code === undefined || e.code === code);
}
