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
  | { ok: false; reason: string };

const encoder = new TextEncoder();

export function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
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

/** Whether `envelope` is signed by one of `keys`, and by which. Never throws: a bundle is any
 * JSON a user picked, and a page served over plain HTTP (not localhost) has no Web Crypto. */
export async function verifyEnvelope(envelope: Envelope, keys: PublishedKey[]): Promise<Verdict> {
  const signatures: unknown = envelope?.signatures;
  if (!Array.isArray(signatures) || signatures.length !== 1) {
    return { ok: false, reason: "the envelope must carry exactly one signature" };
  }
  const signature = signatures[0] as Partial<Envelope["signatures"][number]> | null;
  if (typeof signature?.keyid !== "string" || typeof signature.sig !== "string") {
    return { ok: false, reason: "its signature has no key id or no signature value" };
  }
  if (typeof envelope.payload !== "string" || typeof envelope.payloadType !== "string") {
    return { ok: false, reason: "the envelope has no payload or payload type" };
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
        pae(envelope.payloadType, base64Bytes(envelope.payload)),
      );
      return valid
        ? { ok: true, keyId: key.keyId, status: key.status }
        : { ok: false, reason: `the signature does not verify with key ${key.keyId.slice(0, 12)}…` };
    }
  } catch (error) {
    return { ok: false, reason: `cannot check the signature here: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ok: false, reason: `signed by ${signature.keyid.slice(0, 12)}…, not a key this server trusts` };
}
