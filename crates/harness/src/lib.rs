#![doc = include_str!("../README.md")]

mod bundle;
mod dsse;
mod keys;
mod pack;
mod problem;
mod schema;

pub use bundle::{BundleError, Capture, Chunk, HarnessInfo, VerifiedBundle, limits, verify_bundle};
pub use dsse::{Envelope, EnvelopeSignature, Verified, pae};
pub use keys::{
    ALGORITHM, KeyError, KeyId, KeyRing, KeyStatus, PackSigner, TrustedKey, parse_public_key,
};
pub use pack::{
    MAX_PACK_ITEMS, PACK_PAYLOAD_TYPE, PackDataset, PackItem, PackPayload, prompt_sha256,
};
pub use problem::{MAX_REPORTED_PROBLEMS, Problem};
pub use schema::{
    CAPTURE_BUNDLE_SCHEMA_PATH, PACK_PAYLOAD_SCHEMA_PATH, capture_bundle_schema,
    pack_payload_schema, schema_documents,
};

/// The ed25519 public key type keys are handled as.
pub use ed25519_dalek::VerifyingKey;
