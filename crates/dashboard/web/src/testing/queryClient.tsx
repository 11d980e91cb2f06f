// A fresh query cache per test, and the wrapper that hands a hook under test the current one.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";

let current = new QueryClient();

/** Starts a test with an empty cache (call it in `beforeEach`); returns it. */
export function freshQueryClient(): QueryClient {
  current = new QueryClient();
  return current;
}

/** `renderHook`'s `wrapper`: the hook sees the cache of the current test. */
export function QueryWrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={current}>{children}</QueryClientProvider>;
}
