// The typed API client: paths and shapes generated from docs/openapi.json (`npm run gen`), so
// the dashboard cannot drift from the server.
import createClient from "openapi-fetch";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type ActiveRun = Schemas["ActiveRunDto"];
export type RunDetail = Schemas["RunDetailDto"];
export type Progress = Schemas["ProgressDto"];
export type ItemSnapshot = Schemas["ItemSnapshotDto"];

export const api = createClient<paths>({ baseUrl: "" });

/** One problem of a problem+json answer, with the field or JSON Pointer it is about. */
export interface FieldProblem {
  field?: string;
  detail: string;
}

/** An API refusal (problem+json), readable as it is. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly problems: FieldProblem[];

  constructor(status: number, title: string, detail: string, problems: FieldProblem[] = []) {
    super(detail);
    this.status = status;
    this.title = title;
    this.problems = problems;
  }
}

interface ProblemLike {
  title?: string;
  detail?: string;
  errors?: FieldProblem[];
}

/** The data of an openapi-fetch result, or an `ApiError` built from the problem it carries. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) {
    return result.data;
  }
  const problem = (result.error ?? {}) as ProblemLike;
  throw new ApiError(
    result.response.status,
    problem.title ?? result.response.statusText,
    problem.detail ?? `the server answered ${result.response.status}`,
    problem.errors ?? [],
  );
}
