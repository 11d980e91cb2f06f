// Hides or shows the page as a browser does when its tab goes to the back or comes to the front.
export function setPageVisibility(state: "visible" | "hidden"): void {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}
