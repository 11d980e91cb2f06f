// A pack's signature checked in the browser, as docs/harness-format.md specifies: Ed25519 over
// DSSE's pre-authentication encoding, by a key the server publishes (whose id is recomputed
// from the key, not trusted).

/** The envelope of a pack, as `POST /browser-harness/packs` answers and a bundle carries. */
export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** A published key. */
export interface PublishedKey {
  keyId: string;
  status: string;
  publicKey: string;
}

export type Verdict =
  | { ok: true; keyId: string; status: string }
  | { ok: false; reason: string }
  // A genuine signature on a pack past its expiry: a bundle imported before still gets its run.
  | { ok: false; reason: string; keyId: string; status: string };

const encoder = new TextEncoder();

/** The DSSE `payloadType` of a pack. */
export const PACK_PAYLOAD_TYPE = "application/vnd.evalboard.harness-pack.v1+json";

/** The bytes of standard base64 `text`, strictly as the server reads it: padded, no whitespace,
 * no stray bits (`atob` forgives all three, and would call a bundle the server refuses good). */
export function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  if (btoa(binary) !== text) {
    throw new Error("is not standard base64");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(type: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const typeBytes = encoder.encode(type);
  const head = encoder.encode(`DSSEv1 ${typeBytes.length} `);
  const middle = encoder.encode(` ${body.length} `);
  const out = new Uint8Array(head.length + typeBytes.length + middle.length + body.length);
  out.set(head, 0);
  out.set(typeBytes, head.length);
  out.set(middle, head.length + typeBytes.length);
  out.set(body, head.length + typeBytes.length + middle.length);
  return out;
}

async function keyIdOf(raw: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** When the pack `payload` expired, if it had by `now` (its `expiresAt`, as written). */
function expiredAt(payload: Uint8Array, now: Date): string | null {
  try {
    const expiresAt: unknown = JSON.parse(new TextDecoder().decode(payload))?.expiresAt;
    return typeof expiresAt === "string" && Date.parse(expiresAt) <= now.getTime() ? expiresAt : null;
  } catch {
    return null;
  }
}

/** Whether `envelope` is signed by one of `keys`, and by which. Never throws: a bundle is any
 * JSON a user picked, and a page served over plain HTTP (not localhost) has no Web Crypto. */
export async function verifyEnvelope(envelope: Envelope, keys: PublishedKey[]): Promise<Verdict> {
  const signatures: unknown = envelope?.signatures;
  if (!Array.isArray(signatures) || signatures.length !== 1) {
    return { ok: false, reason: "the envelope must carry exactly one signature" };
  }
  const signature = signatures[0] as Partial<Envelope["signatures"][number]> | null;
  if (typeof signature?.keyid !== "string" || signature.keyid === "" || typeof signature.sig !== "string") {
    return { ok: false, reason: "its signature has no key id or no signature value" };
  }
  if (typeof envelope.payload !== "string" || typeof envelope.payloadType !== "string") {
    return { ok: false, reason: "the envelope has no payload or payload type" };
  }
  if (envelope.payloadType !== PACK_PAYLOAD_TYPE) {
    return { ok: false, reason: `its payload type is not a pack's (${PACK_PAYLOAD_TYPE})` };
  }
  let payload: Uint8Array<ArrayBuffer>;
  try {
    payload = base64Bytes(envelope.payload);
  } catch {
    return { ok: false, reason: "its payload is not standard base64" };
  }
  if (typeof crypto === "undefined" || crypto.subtle === undefined) {
    return {
      ok: false,
      reason: "this browser checks signatures only on pages served over https or from localhost (the server still checks it on import)",
    };
  }
  try {
    for (const key of keys) {
      const raw = base64Bytes(key.publicKey);
      if (key.keyId !== signature.keyid || (await keyIdOf(raw)) !== key.keyId) {
        continue;
      }
      const publicKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
      const valid = await crypto.subtle.verify(
        { name: "Ed25519" },
        publicKey,
        base64Bytes(signature.sig),
        pae(envelope.payloadType, payload),
      );
      if (!valid) {
        return { ok: false, reason: `the signature does not verify with key ${key.keyId.slice(0, 12)}…` };
      }
      const expired = expiredAt(payload, new Date());
      return expired
        ? {
            ok: false,
            reason: `the pack expired at ${expired}: the server imports no new bundle of it (one imported before still gets its run)`,
            keyId: key.keyId,
            status: key.status,
          }
        : { ok: true, keyId: key.keyId, status: key.status };
    }
  } catch (error) {
    return { ok: false, reason: `cannot check the signature here: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ok: false, reason: `signed by ${signature.keyid.slice(0, 12)}…, not a key this server trusts` };
}
