import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { Download, attachmentName } from "./download";

let saved: { href: string; download: string }[];

beforeEach(() => {
  saved = [];
  vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: vi.fn(() => "blob:file"), revokeObjectURL: vi.fn() }));
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    saved.push({ href: this.href, download: this.download });
  });
});
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe("Download", () => {
  it("saves the file under the name the server gives", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response("a,b\n", { headers: { "Content-Disposition": 'attachment; filename="run-1-items.csv"' } })),
    );
    render(
      <Download href="/runs/run-1/export?format=csv" fallbackName="items.csv">
        Export CSV
      </Download>,
    );
    fireEvent.click(screen.getByRole("link", { name: "Export CSV" }));
    await vi.waitFor(() => expect(saved).toEqual([{ href: "blob:file", download: "run-1-items.csv" }]));
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says why the server refused, beside the link", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(
        async () =>
          new Response(JSON.stringify({ title: "Too Many Requests", status: 429, detail: "4 exports are being made; try again" }), {
            status: 429,
            headers: { "Content-Type": "application/problem+json" },
          }),
      ),
    );
    render(
      <Download href="/runs/run-1/export?format=csv" fallbackName="items.csv">
        Export CSV
      </Download>,
    );
    fireEvent.click(screen.getByRole("link", { name: "Export CSV" }));
    const said = (await screen.findByRole("alert")).textContent ?? "";
    expect(said).toContain("Too Many Requests (429)");
    expect(said).toContain("4 exports are being made");
    expect(saved).toEqual([]);
  });

  it("reads the file name of a Content-Disposition header", () => {
    expect(attachmentName('attachment; filename="runs.csv"')).toBe("runs.csv");
    expect(attachmentName("attachment")).toBeNull();
    expect(attachmentName(null)).toBeNull();
  });
});
