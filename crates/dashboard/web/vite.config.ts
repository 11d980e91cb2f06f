import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The API routes `npm run dev` forwards to a running server (`cargo run -p evalboard-server`).
const api = ["/auth", "/runs", "/datasets", "/providers", "/browser-harness", "/healthz", "/readyz", "/openapi.json"];
const server = process.env.EVALBOARD_URL ?? "http://127.0.0.1:8080";

// Numbers are shown in the reader's locale: the tests, which read them, run in one locale
// whatever the machine's (the test workers start after this and inherit it).
if (process.env.VITEST) {
  process.env.LC_ALL = "en_US.UTF-8";
}

export default defineConfig(({ command }) => ({
  // Served by evalboard under /ui/, below the server's `http.base_path` (docs/dashboard.md):
  // the built files name each other relatively, and the server makes the page's addresses
  // absolute for its base path. The development server serves /ui/ itself.
  base: command === "build" ? "./" : "/ui/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // No source maps in the binary; deterministic output, so `cargo xtask web --check` can
    // compare a fresh build with the committed one.
    sourcemap: false,
  },
  server: {
    proxy: Object.fromEntries(api.map((path) => [path, { target: server, changeOrigin: false }])),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/testing/setup.ts"],
  },
}));
