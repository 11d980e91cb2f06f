//! Browser Harness shapes: published keys, pack requests, DSSE envelopes and capture bundles.
//! The envelope and bundle formats are specified in docs/harness-format.md; the bundle types
//! here describe the import body for the OpenAPI document (the handler reads it with the
//! harness crate, which reports every problem at once).

use std::collections::BTreeMap;

use evalboard_harness::{Envelope, TrustedKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ItemSelectionDto;

/// The public keys packs are signed with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeysDto {
    /// The active key first, then retired keys whose packs still import.
    pub keys: Vec<PublicKeyDto>,
}

/// One public key.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyDto {
    /// Lowercase hex SHA-256 of the 32 raw public key bytes; envelopes name it as `keyid`.
    pub key_id: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// `active` (signs new packs) or `retired` (its packs still import).
    #[schema(pattern = "^(active|retired)$")]
    pub status: String,
    /// Standard base64 of the 32 raw public key bytes.
    pub public_key: String,
}

impl From<&TrustedKey> for PublicKeyDto {
    fn from(key: &TrustedKey) -> Self {
        Self {
            key_id: key.id.to_string(),
            algorithm: evalboard_harness::ALGORITHM.to_owned(),
            status: key.status.as_str().to_owned(),
            public_key: key.public_key_base64(),
        }
    }
}

/// Body of `POST /browser-harness/packs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePackRequest {
    /// The dataset; its newest version is used.
    #[schema(min_length = 1, max_length = 100)]
    pub dataset_name: String,
    /// The model the harness plays the prompts to (becomes the run's model): 1 to 100 letters,
    /// digits and `. _ : / -`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9._:/-]{1,100}$"
    )]
    pub target: String,
    /// Which items (all when absent; at most 20,000).
    #[serde(default)]
    pub selection: Option<ItemSelectionDto>,
    /// How long the pack can be imported, 60 s to 30 days; 7 days when absent.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in_seconds: Option<u64>,
}

/// A DSSE envelope: the signed pack, exactly as a harness must send it back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeDto {
    /// `application/vnd.evalboard.harness-pack.v1+json`.
    pub payload_type: String,
    /// The pack payload (JSON), standard base64.
    pub payload: String,
    /// Signatures over DSSE's pre-authentication encoding: exactly one, by a key this server
    /// holds.
    #[schema(min_items = 1, max_items = 1)]
    pub signatures: Vec<EnvelopeSignatureDto>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvelopeSignatureDto {
    /// The signing key's id (see `GET /browser-harness/keys`).
    pub keyid: String,
    /// The 64-byte ed25519 signature, standard base64.
    pub sig: String,
}

impl From<Envelope> for EnvelopeDto {
    fn from(envelope: Envelope) -> Self {
        Self {
            payload_type: envelope.payload_type,
            payload: envelope.payload,
            signatures: envelope
                .signatures
                .into_iter()
                .map(|s| EnvelopeSignatureDto {
                    keyid: s.keyid,
                    sig: s.sig,
                })
                .collect(),
        }
    }
}

/// Body of `POST /browser-harness/imports`: the envelope as issued, the captures, the harness.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureBundleDto {
    /// The pack's envelope, unchanged.
    pub envelope: EnvelopeDto,
    /// Who recorded the captures.
    pub harness: HarnessInfoDto,
    /// One capture per answered item (1 to the pack's item count).
    #[schema(min_items = 1)]
    pub captures: Vec<CaptureDto>,
}

/// The harness that recorded a bundle.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarnessInfoDto {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub version: String,
    /// The browser's user agent, 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub user_agent: String,
}

/// What the page answered to one prompt of the pack.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureDto {
    /// The pack item's sequence.
    #[schema(minimum = 1)]
    pub sequence: u32,
    /// The pack item's `promptSha256` (the prompt the harness sent).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub prompt_sha256: String,
    /// The whole answer, at most 256 KiB.
    pub response_text: String,
    /// When the prompt was sent (RFC 3339).
    pub started_at: String,
    /// When the answer was complete (RFC 3339).
    pub finished_at: String,
    /// The answer as it streamed, in order (at most 4096).
    #[serde(default)]
    pub chunks: Option<Vec<ChunkDto>>,
    /// What the harness noted of the page (at most 32 string entries).
    #[serde(default)]
    pub page: Option<BTreeMap<String, String>>,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChunkDto {
    /// Where the piece starts in the response text, in characters (Unicode scalar values).
    pub offset: u64,
    /// The piece.
    pub text: String,
    /// When it appeared (RFC 3339).
    pub at: String,
}
