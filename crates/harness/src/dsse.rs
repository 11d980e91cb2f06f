//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>) signed with ed25519.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::{
    keys::{KeyRing, PackSigner, TrustedKey},
    problem::Problems,
};

/// A signed payload as DSSE writes it: the payload and signatures are standard base64 (with
/// padding); each signature is over the pre-authentication encoding of type and payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is (a media type).
    pub payload_type: String,
    /// The payload bytes, base64.
    pub payload: String,
    /// One or more signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The signing key's id.
    pub keyid: String,
    /// The 64-byte ed25519 signature, base64.
    pub sig: String,
}

/// DSSE's pre-authentication encoding, what is signed:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, lengths in ASCII decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    encoded.extend_from_slice(b"DSSEv1 ");
    encoded.extend_from_slice(payload_type.len().to_string().as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload_type.as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload.len().to_string().as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload);
    encoded
}

impl Envelope {
    /// Signs `payload` as `payload_type` with `signer`.
    pub fn sign(payload_type: &str, payload: &[u8], signer: &PackSigner) -> Self {
        let sig = signer.sign(&pae(payload_type, payload));
        Self {
            payload_type: payload_type.to_owned(),
            payload: BASE64.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: signer.id().to_string(),
                sig: BASE64.encode(sig),
            }],
        }
    }
}

/// A payload whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The trusted key that signed it.
    pub key: TrustedKey,
}

/// Verifies `envelope` as a `payload_type` payload with exactly one signature, made by a key of
/// `ring`, reporting under `at` (a JSON Pointer to the envelope).
pub(crate) fn verify(
    envelope: &Envelope,
    payload_type: &str,
    ring: &KeyRing,
    at: &str,
    problems: &mut Problems,
) -> Option<Verified> {
    let mut ok = true;
    if envelope.payload_type != payload_type {
        problems.push(
            format!("{at}/payloadType"),
            format!("must be `{payload_type}`"),
        );
        ok = false;
    }
    let payload = match BASE64.decode(&envelope.payload) {
        Ok(payload) => Some(payload),
        Err(_) => {
            problems.push(format!("{at}/payload"), "is not standard base64");
            None
        }
    };
    if envelope.signatures.is_empty() {
        problems.push(format!("{at}/signatures"), "has no signature");
        return None;
    }
    // Packs are issued with one signature; an envelope with more is not as issued (and each
    // extra signature would be a verification paid for by the server).
    if envelope.signatures.len() != 1 {
        problems.push(
            format!("{at}/signatures"),
            "must hold exactly one signature, as the pack was issued",
        );
        return None;
    }
    let payload = payload?;
    let signed = pae(&envelope.payload_type, &payload);
    let mut reasons = Vec::new();
    for (index, signature) in envelope.signatures.iter().enumerate() {
        let here = format!("{at}/signatures/{index}");
        let Some(key) = ring.get(&signature.keyid) else {
            reasons.push((
                format!("{here}/keyid"),
                "is not the id of a key this server trusts (see GET /browser-harness/keys)",
            ));
            continue;
        };
        let Some(sig) = BASE64
            .decode(&signature.sig)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        else {
            reasons.push((
                format!("{here}/sig"),
                "is not the base64 of a 64-byte signature",
            ));
            continue;
        };
        if key
            .key
            .verify_strict(&signed, &Signature::from_bytes(&sig))
            .is_err()
        {
            reasons.push((
                format!("{here}/sig"),
                "does not verify: the payload or its type was changed, or the signature is not this key's",
            ));
            continue;
        }
        if ok {
            return Some(Verified {
                payload,
                key: key.clone(),
            });
        }
        return None;
    }
    for (pointer, message) in reasons {
        problems.push(pointer, message);
    }
    None
}
