import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Router } from "wouter";

import { App } from "./App";
import { basePath } from "./api/base";
import "./styles.css";

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refused request (4xx) will be refused again; only transient failures are retried.
      retry: (failures, error) =>
        failures < 3 && !(error instanceof Error && "status" in error && Number(error.status) < 500),
      refetchOnWindowFocus: false,
    },
  },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <Router base={`${basePath()}/ui`}>
        <App />
      </Router>
    </QueryClientProvider>
  </StrictMode>,
);
