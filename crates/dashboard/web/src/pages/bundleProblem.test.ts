import { describe, expect, it } from "vitest";

import { bundleProblem } from "./Harness";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("a file chosen as a bundle", () => {
  it("is read as its JSON when it is an object", () => {
    expect(bundleProblem("b.json", bytes('{"envelope": {}, "harness": {}, "captures": []}'))).toHaveProperty("json");
  });

  it("is named a pack when it is one", () => {
    const pack = bytes('{"payloadType": "application/vnd.evalboard.pack+json", "payload": "e30=", "signatures": []}');
    const read = bundleProblem("pack.json", pack);
    expect("problem" in read && read.problem).toContain("pack.json is a pack, not a capture bundle");
  });

  it("says a binary file is not text, without quoting its bytes", () => {
    const read = bundleProblem("photo.bin", new Uint8Array([0x4b, 0x60, 0xff, 0xfe, 0x00, 0x81]));
    expect("problem" in read && read.problem).toBe(
      "photo.bin is not a bundle: it is not text (a bundle is a JSON file the harness writes).",
    );
  });

  it("says text that is not JSON, or JSON that is not an object, is no bundle", () => {
    const notJson = bundleProblem("notes.txt", bytes("hello"));
    expect("problem" in notJson && notJson.problem).toMatch(/^notes\.txt is not JSON: /);
    const list = bundleProblem("list.json", bytes("[1, 2]"));
    expect("problem" in list && list.problem).toBe("list.json is not a bundle: a bundle is one JSON object.");
  });
});
