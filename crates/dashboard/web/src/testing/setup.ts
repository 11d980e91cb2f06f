// Node's Request, unlike a browser's, refuses a URL relative to the page (the API client's
// "/runs"): resolved against jsdom's location instead, as a page would.
class PageRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === "string" ? new URL(input, location.href) : input, init);
  }
}

globalThis.Request = PageRequest;
