/** RFC 9457 problem+json answers turned into sentences a shopper can read. */

export interface FieldError {
  loc: (string | number)[];
  message: string;
  type?: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string | null;
  errors?: FieldError[] | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    /** The answer's Retry-After header: the shop asks for the same request again later. */
    readonly retryAfter: string | null = null,
  ) {
    super(describeProblem(problem, status));
  }
}

/**
 * Whether a failed write must be sent again with the same Idempotency-Key. Yes after a
 * network error or a 5xx: the shop may have done it and lost the answer (a 504 after the
 * order was placed), and the same key answers what the first request did, never twice.
 * Yes after an answer with Retry-After (429, 503, a 409 while the first request with the
 * key still runs): nothing was decided. Otherwise (a 4xx) the shop refused this request,
 * and a retry, changed or not, is a new attempt with a new key.
 */
export function sameAttempt(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  if (!(error instanceof ApiError)) return false;
  return error.status >= 500 || error.retryAfter !== null;
}

const FALLBACK: Record<number, string> = {
  401: "Please log in to continue.",
  403: "You are not allowed to do that.",
  404: "We could not find that.",
  409: "That conflicts with what is already there.",
  429: "Too many requests; please wait a moment and try again.",
  502: "The shop is not answering right now; please try again shortly.",
  503: "The shop is not answering right now; please try again shortly.",
  504: "The shop took too long to answer; please try again.",
};

function fieldName(loc: (string | number)[]): string {
  const parts = loc.filter((p) => p !== "body" && p !== "query" && p !== "path");
  return String(parts[parts.length - 1] ?? "").replace(/_/g, " ");
}

export function describeProblem(problem: Problem | null | undefined, status = 0): string {
  const errors = problem?.errors ?? [];
  if (errors.length > 0) {
    return errors
      .map((e) => {
        const name = fieldName(e.loc);
        return name ? `${name[0]!.toUpperCase()}${name.slice(1)}: ${e.message}` : e.message;
      })
      .join(" ");
  }
  if (problem?.detail) return problem.detail;
  return FALLBACK[status] ?? problem?.title ?? "Something went wrong; please try again.";
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "The shop cannot be reached; check your connection.";
  return error instanceof Error ? error.message : String(error);
}
