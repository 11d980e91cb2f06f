// Where the server is as the browser reaches it: the path it is served below (the server's
// `http.base_path`, e.g. `/evalboard` behind a proxy that publishes it there; empty at the root
// of a host), which the server writes into the page. Every address of the API the page uses,
// and the application's own (`<base path>/ui/…`), starts with it.

/** The base path the page was served with: `""`, or `/` and segments without a trailing `/`. */
export function basePath(): string {
  if (typeof document === "undefined") return "";
  return document.querySelector<HTMLMetaElement>('meta[name="evalboard-base"]')?.content ?? "";
}

/** The API's `path` (starting with `/`) below `base` (the page's base path unless given). */
export function apiUrl(path: string, base: string = basePath()): string {
  return `${base}${path}`;
}
