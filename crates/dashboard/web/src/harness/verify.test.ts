import { afterEach, describe, expect, it, vi } from "vitest";

import { PACK_PAYLOAD_TYPE, base64Bytes, pae, verifyEnvelope } from "./verify";

describe("pack signatures", () => {
  it("encodes the PAE as DSSE specifies", () => {
    const bytes = pae("application/vnd.evalboard.harness-pack.v1+json", new TextEncoder().encode("{}"));
    expect(new TextDecoder().decode(bytes)).toBe("DSSEv1 46 application/vnd.evalboard.harness-pack.v1+json 2 {}");
  });

  it("verifies a signature by a published key, and refuses a tampered payload or a stranger", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const keyId = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", raw)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
    const payload = new TextEncoder().encode('{"packId":"p"}');
    const type = "application/vnd.evalboard.harness-pack.v1+json";
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, pae(type, payload)));
    const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
    const keys = [{ keyId, status: "active", publicKey: b64(raw) }];
    const envelope = { payloadType: type, payload: b64(payload), signatures: [{ keyid: keyId, sig: b64(sig) }] };
    expect(await verifyEnvelope(envelope, keys)).toEqual({ ok: true, keyId, status: "active" });

    const tampered = { ...envelope, payload: b64(new TextEncoder().encode('{"packId":"q"}')) };
    expect((await verifyEnvelope(tampered, keys)).ok).toBe(false);
    const stranger = { ...envelope, signatures: [{ keyid: "ab".repeat(32), sig: b64(sig) }] };
    expect(await verifyEnvelope(stranger, keys)).toEqual({
      ok: false,
      reason: "signed by abababababab…, not a key this server trusts",
    });
    expect(base64Bytes(b64(raw))).toEqual(raw);

    // Signed, but past its expiry: the server would refuse a new bundle of it.
    const old = new TextEncoder().encode('{"packId":"p","expiresAt":"2020-01-01T00:00:00Z"}');
    const oldSig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, pae(type, old)));
    const expired = { payloadType: type, payload: b64(old), signatures: [{ keyid: keyId, sig: b64(oldSig) }] };
    expect(await verifyEnvelope(expired, keys)).toEqual({
      ok: false,
      reason:
        "the pack expired at 2020-01-01T00:00:00Z: the server imports no new bundle of it (one imported before still gets its run)",
      keyId,
      status: "active",
    });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  const envelope = { payloadType: PACK_PAYLOAD_TYPE, payload: btoa("{}"), signatures: [{ keyid: "ab".repeat(32), sig: btoa("x") }] };
  const key = { keyId: "ab".repeat(32), status: "active", publicKey: btoa("k") };
  const keys = [key];

  it("says what is wrong with a malformed signature instead of throwing", async () => {
    for (const signatures of [[{}], [{ keyid: 1, sig: "x" }], [null], "x", []]) {
      const verdict = await verifyEnvelope({ ...envelope, signatures } as never, keys);
      expect(verdict.ok).toBe(false);
    }
    for (const signature of [{}, { keyid: "", sig: btoa("x") }]) {
      expect(await verifyEnvelope({ ...envelope, signatures: [signature] } as never, keys)).toEqual({
        ok: false,
        reason: "its signature has no key id or no signature value",
      });
    }
    expect(await verifyEnvelope({ ...envelope, payload: 5 } as never, keys)).toEqual({
      ok: false,
      reason: "the envelope has no payload or payload type",
    });
  });

  it("says so where the browser has no Web Crypto (plain http on another host)", async () => {
    vi.stubGlobal("crypto", {});
    const verdict = await verifyEnvelope(envelope, keys);
    expect(verdict).toEqual({
      ok: false,
      reason: expect.stringContaining("only on pages served over https or from localhost"),
    });
  });

  it("reads base64 as strictly as the server, and refuses another payload type", async () => {
    expect(() => base64Bytes("e30")).toThrow("is not standard base64");
    expect(() => base64Bytes("e3\n0=")).toThrow("is not standard base64");
    expect(() => base64Bytes("e31=")).toThrow("is not standard base64");
    expect(Array.from(base64Bytes("e30="))).toEqual([0x7b, 0x7d]);
    expect(await verifyEnvelope({ ...envelope, payload: "e30" }, keys)).toEqual({
      ok: false,
      reason: "its payload is not standard base64",
    });
    expect(await verifyEnvelope({ ...envelope, payloadType: "text/plain" }, keys)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("payload type"),
    });
  });

  it("reports a key that is not base64 as a verdict", async () => {
    const verdict = await verifyEnvelope(envelope, [{ ...key, publicKey: "***" }]);
    expect(verdict.ok).toBe(false);
  });
});
