// The typed API client: paths and shapes generated from docs/openapi.json (`npm run gen`), so
// the dashboard cannot drift from the server.
import createClient from "openapi-fetch";

import { basePath } from "./base";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type ActiveRun = Schemas["ActiveRunDto"];
export type RunDetail = Schemas["RunDetailDto"];
export type Progress = Schemas["ProgressDto"];
export type ItemSnapshot = Schemas["ItemSnapshotDto"];

export type Session = Schemas["SessionDto"];

export const api = createClient<paths>({
  // The page's base path is in the page itself, read before any module runs.
  baseUrl: basePath(),
  // Looked up at each request rather than once, so that a test's stubbed `fetch` is the one used.
  fetch: (request) => globalThis.fetch(request),
});

const unauthenticated = new Set<() => void>();

/**
 * Calls `listener` whenever the server refuses a request as unauthenticated (401): the session
 * expired or its token was removed. Returns what stops it.
 */
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticated.add(listener);
  return () => unauthenticated.delete(listener);
}

/** Tells the listeners that a request was refused as unauthenticated. */
export function reportUnauthenticated(): void {
  for (const listener of unauthenticated) {
    listener();
  }
}

const forbidden = new Set<() => void>();

/**
 * Calls `listener` whenever the server refuses a request for the signed-in token's role (403):
 * the role may have changed since the page learnt it. Returns what stops it.
 */
export function onForbidden(listener: () => void): () => void {
  forbidden.add(listener);
  return () => forbidden.delete(listener);
}

api.use({
  onRequest({ request }) {
    // The server refuses (415) a POST without a non-simple Content-Type, and openapi-fetch sends
    // none when there is no body (`POST /runs/{run_id}/cancel`).
    if (request.method === "POST" && !request.headers.has("Content-Type")) {
      request.headers.set("Content-Type", "application/json");
    }
  },
  onResponse({ response, schemaPath }) {
    // `/auth/session` answers 401 when signing in or when no one is: the session gate reads it.
    if (response.status === 401 && schemaPath !== "/auth/session") {
      reportUnauthenticated();
    }
    if (response.status === 403) {
      for (const listener of forbidden) {
        listener();
      }
    }
  },
});

/** One problem of a problem+json answer: the field or JSON Pointer it is about, or the line of
 *  an uploaded file. */
export type FieldProblem = Schemas["ProblemItem"];

/** An API refusal (problem+json), readable as it is. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly problems: FieldProblem[];
  /** The problem's `type` (`urn:evalboard:problem:…`), when the server gave one. */
  readonly type: string | undefined;

  constructor(status: number, title: string, detail: string, problems: FieldProblem[] = [], type?: string) {
    super(detail);
    this.status = status;
    this.title = title;
    this.problems = problems;
    this.type = type;
  }
}

interface ProblemLike {
  type?: string;
  title?: string;
  detail?: string;
  errors?: FieldProblem[];
}

/** The `ApiError` of a refusal with `status` whose body was `body` (its problem+json, or
 *  anything else: then the status says it). */
export function problemError(status: number, statusText: string, body: unknown): ApiError {
  const problem = (body ?? {}) as ProblemLike;
  return new ApiError(
    status,
    problem.title ?? statusText,
    problem.detail ?? `the server answered ${status}`,
    problem.errors ?? [],
    typeof problem.type === "string" ? problem.type : undefined,
  );
}

/** The data of an openapi-fetch result, or an `ApiError` built from the problem it carries. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) {
    return result.data;
  }
  throw problemError(result.response.status, result.response.statusText, result.error);
}
