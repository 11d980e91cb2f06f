import { describe, expect, it } from "vitest";

import { accessOf } from "./access";

describe("accessOf", () => {
  it("gives each role what the server accepts of it, and an open server everything", () => {
    const signedIn = (role: "viewer" | "operator" | "admin") => accessOf({ open: false, role, name: "t" });
    expect(signedIn("viewer")).toEqual({ operate: false, administer: false });
    expect(signedIn("operator")).toEqual({ operate: true, administer: false });
    expect(signedIn("admin")).toEqual({ operate: true, administer: true });
    expect(accessOf({ open: true, role: "viewer" })).toEqual({ operate: true, administer: true });
  });
});
