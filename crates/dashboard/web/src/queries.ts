// The server's data as TanStack Query hooks, named as the contract's client notes name them.
import {
  type QueryClient,
  keepPreviousData,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";

import { type ActiveRun, ApiError, type Schemas, api, unwrap } from "./api/client";
import { ACTIVE } from "./components/common";
import type { operations } from "./api/schema";

export type RunFilters = NonNullable<operations["list_runs"]["parameters"]["query"]>;
export type ItemFilters = NonNullable<operations["list_run_items"]["parameters"]["query"]>;

/** What the board is hydrated from: the snapshots and the stream position they include. */
export interface ActiveBoard {
  runs: ActiveRun[];
  /** `Last-Event-ID` of the answer: the stream resumes after it, with no gap. */
  lastEventId: string | null;
  /** Which fetch this board came from (folding events keeps it): a new one is a new position
   * for the stream to follow from. */
  hydration: number;
}

let hydrations = 0;

export const keys = {
  active: (limit: number) => ["runs", "active", limit] as const,
  activeAll: ["runs", "active"] as const,
  runs: (filters: RunFilters) => ["runs", "list", filters] as const,
  run: (id: string) => ["runs", "detail", id] as const,
  /** Every items query of a run (pages and items by sequence). */
  itemsOf: (id: string) => ["runs", "items", id] as const,
  items: (id: string, filters: ItemFilters) => ["runs", "items", id, filters] as const,
  itemsBySequence: (id: string, sequences: number[]) => ["runs", "items", id, { sequences }] as const,
  /** Every log query of a run (each level). */
  logsOf: (id: string) => ["runs", "logs", id] as const,
  logs: (id: string, level: string, order: LogOrder) => ["runs", "logs", id, level, order] as const,
};

/** Runs whose items and log are to be fetched again once the reasons at hand are all in. */
const contentsDue = new WeakMap<QueryClient, Set<string>>();

/** Fetches again what a run's drill-down shows beside its detail: its items and its log (after
 * its status changed, or an action on it). Reasons come together (an action's answer, the status
 * and retry count it moved, the stream opening on the run that became active): they get one
 * fetch, begun after the last of them, rather than one each, each cancelling the one before (a
 * retry made one tab send ten item requests in 80 ms). */
export function refetchRunContents(client: QueryClient, id: string) {
  const due = contentsDue.get(client) ?? new Set<string>();
  contentsDue.set(client, due);
  if (due.has(id)) return;
  due.add(id);
  setTimeout(() => {
    due.delete(id);
    void client.invalidateQueries({ queryKey: keys.itemsOf(id) });
    void client.invalidateQueries({ queryKey: keys.logsOf(id) });
  }, 0);
}

/** Hydrates the active board before the stream begins (client note 2). */
export function useActiveRunsQuery(limit: number) {
  return useQuery({
    queryKey: keys.active(limit),
    queryFn: async (): Promise<ActiveBoard> => {
      const result = await api.GET("/runs/active", { params: { query: { limit } } });
      return {
        runs: unwrap(result),
        lastEventId: result.response.headers.get("Last-Event-ID"),
        hydration: ++hydrations,
      };
    },
    // The stream keeps the board it follows current; a refetch on reset or reconnection, and
    // whenever a board is shown again (another size, back to the page): each fetch is a new
    // position the stream follows from, and a board not shown is not followed.
    staleTime: Infinity,
    refetchOnMount: "always",
  });
}

/** The archive and the comparison's selectors (client note 1): pages of runs, newest first unless `filters.sort` says otherwise. */
export function useRunsQuery(filters: RunFilters) {
  return useInfiniteQuery({
    queryKey: keys.runs(filters),
    queryFn: async ({ pageParam }) =>
      // JSON: the CSV form of this endpoint is for downloads.
      unwrap(
        await api.GET("/runs", {
          params: { query: { ...filters, cursor: pageParam ?? undefined } },
        }),
      ) as Schemas["RunPageDto"],
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    placeholderData: keepPreviousData,
    // A listed run still going changes its status and counts: every loaded page is read again.
    refetchInterval: (query) => archivePoll(query.state.data?.pages),
  });
}

/** How often a listing of runs that holds one still going is read again. */
export const ARCHIVE_POLL_MS = 10_000;

/** When to read a listing of runs again: only while it lists a run still going. */
export function archivePoll(pages: Schemas["RunPageDto"][] | undefined): number | false {
  return pages?.some((page) => page.runs.some((listed) => ACTIVE.has(listed.run.status))) ? ARCHIVE_POLL_MS : false;
}

/**
 * How often an active run's drill-down polls: often without its event stream, rarely (a safety
 * net) while the stream keeps it current (`useRunFollow`).
 */
export function pollEvery(live: boolean, following: boolean): number | false {
  return live ? (following ? 15_000 : 2000) : false;
}

/** The query of one run's full detail (client note 5). */
export function runQuery(id: string) {
  return {
    queryKey: keys.run(id),
    queryFn: async () => unwrap(await api.GET("/runs/{run_id}", { params: { path: { run_id: id } } })),
  };
}

/** How often a finished run's detail is read again: a retry or a re-judging started elsewhere
 * (another tab, the CLI) makes it active again, and the page then follows it as it does any. */
export const FINISHED_RUN_POLL_MS = 30_000;

/** One run's full detail, fetched on demand (client note 5). */
export function useRunQuery(id: string, live: boolean, following = false) {
  return useQuery({ ...runQuery(id), refetchInterval: pollEvery(live, following) || FINISHED_RUN_POLL_MS });
}

export function useRunItemsQuery(id: string, filters: ItemFilters, live: boolean, following = false) {
  return useInfiniteQuery({
    queryKey: keys.items(id, filters),
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/runs/{run_id}/items", {
          params: { path: { run_id: id }, query: { ...filters, cursor: pageParam ?? undefined } },
        }),
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    placeholderData: keepPreviousData,
    refetchInterval: pollEvery(live, following),
  });
}

/** Log entries per page. */
const LOG_PAGE = 100;

/** A run's log read from its start (`oldest`, the log's order) or from its latest entry. */
export type LogOrder = "oldest" | "newest";

export function useRunLogsQuery(id: string, level: string, order: LogOrder, live: boolean, following = false) {
  return useInfiniteQuery({
    queryKey: keys.logs(id, level, order),
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/runs/{run_id}/logs", {
          params: {
            path: { run_id: id },
            query: { level: level || undefined, order, cursor: pageParam ?? undefined, limit: LOG_PAGE },
          },
        }),
      ),
    initialPageParam: null as string | null,
    // A log's last page has a cursor too (to poll for new entries); only a full page says
    // there is more to load now. A refetch of the last page picks up what was logged since
    // (newest first, a refetch of the first page does).
    getNextPageParam: (page) => (page.logs.length < LOG_PAGE ? undefined : page.nextCursor),
    refetchInterval: pollEvery(live, following),
  });
}

/** What can be done to a run: cancel it, retry its faulted items, or judge its answers again. */
export type RunAction =
  | { id: string; action: "cancel" }
  /** `force`: go on although the run's configuration changed since it was made. */
  | { id: string; action: "retry"; force?: boolean }
  | { id: string; action: "rejudge"; judge: Schemas["JudgeDto"] };

/** Cancel, retry or re-judge a run; the board and the run's detail follow. */
export function useRunAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (request: RunAction) => {
      const params = { params: { path: { run_id: request.id } } };
      switch (request.action) {
        case "cancel":
          return unwrap(await api.POST("/runs/{run_id}/cancel", params));
        case "retry":
          return unwrap(
            await api.POST("/runs/{run_id}/retry", { ...params, body: request.force ? { force: true } : {} }),
          );
        case "rejudge":
          return unwrap(await api.POST("/runs/{run_id}/rejudge", { ...params, body: { judge: request.judge } }));
      }
    },
    onSuccess: (detail) => {
      client.setQueryData(keys.run(detail.run.id), detail);
      // A cancel may end the run at once (nothing in flight), and a retry reopens items: what
      // the page lists of them, and the log's new lines, are fetched again.
      refetchRunContents(client, detail.run.id);
      void client.invalidateQueries({ queryKey: ["runs", "list"] });
    },
    onError: (error, request) => {
      // Refused because the run is not as the page showed it (another person, tab or the CLI
      // acted on it meanwhile: "is running"): read again at once, so that the page shows what
      // the refusal is about instead of what it showed until its next poll, 30 s later.
      if (error instanceof ApiError && error.status === 409) {
        void client.invalidateQueries({ queryKey: keys.run(request.id) });
        refetchRunContents(client, request.id);
        void client.invalidateQueries({ queryKey: keys.activeAll });
      }
    },
  });
}

export function useProvidersQuery() {
  return useQuery({
    queryKey: ["providers"],
    queryFn: async () => unwrap(await api.GET("/providers")),
    staleTime: 60_000,
  });
}

export function useDatasetsQuery() {
  return useQuery({
    queryKey: ["datasets"],
    queryFn: async () => unwrap(await api.GET("/datasets")),
  });
}

/** Runs compared against the first; flipped items a page at a time. */
/** Which flipped items a comparison lists: those the baseline got right or wrong, of a category. */
export type FlippedFilters = { baseline?: "right" | "wrong"; category?: string };

export function useComparisonQuery(runIds: string[], flipped: FlippedFilters = {}) {
  return useInfiniteQuery({
    queryKey: ["runs", "compare", runIds, flipped],
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/runs/compare", {
          params: { query: { runIds: runIds.join(","), cursor: pageParam ?? undefined, limit: 50, ...flipped } },
        }),
      ),
    // Another filter's page is fetched with the figures shown meanwhile (they do not change).
    placeholderData: keepPreviousData,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.flipped.nextCursor,
    enabled: runIds.length >= 2,
    // While a compared run is still going its figures move: every loaded page is read again
    // together (one snapshot, not pages of different moments).
    refetchInterval: (query) => comparisonPoll(query.state.data?.pages[0]),
  });
}

/** How often a comparison of runs still going is read again. */
export const COMPARE_POLL_MS = 10_000;

/** When to read a comparison again: only while one of its runs is still going. */
export function comparisonPoll(first: Schemas["ComparisonDto"] | undefined): number | false {
  return first?.runs.some((compared) => ACTIVE.has(compared.run.status)) ? COMPARE_POLL_MS : false;
}

/** Some items of a run, by sequence; polled as the run's item list is while the run is active. */
export function useItemsQuery(id: string, sequences: number[], live = false, following = false) {
  return useQuery({
    queryKey: keys.itemsBySequence(id, sequences),
    queryFn: async () =>
      unwrap(
        await api.GET("/runs/{run_id}/items", {
          params: { path: { run_id: id }, query: { sequence: sequences.join(","), groupBy: "none", limit: 200 } },
        }),
      ).items,
    enabled: sequences.length > 0,
    refetchInterval: pollEvery(live, following),
  });
}
