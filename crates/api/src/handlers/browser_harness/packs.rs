//! `POST /browser-harness/packs`: a signed pack of a dataset's prompts for one target.

use actix_web::{HttpResponse, post, web};
use chrono::{Duration, Utc};
use evalboard_domain::{DatasetName, ItemSelection, ValidationErrors, truncate_to_micros};
use evalboard_harness::{MAX_PACK_ITEMS, PackDataset, PackPayload};
use evalboard_persistence::{IssuedPack, StoreError};
use sha2::{Digest, Sha256};

use super::imports::MAX_BUNDLE_BYTES;
use crate::{
    body::{JsonObject, parse_json},
    dto::{CreatePackRequest, EnvelopeDto},
    error::{ApiError, Problem},
    params::NoParameters,
    params::shorten,
    state::AppState,
};

/// Shortest pack life, in seconds.
const MIN_EXPIRY_SECS: u64 = 60;
/// Longest pack life: 30 days.
const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;
/// Pack life when the request names none: 7 days.
const DEFAULT_EXPIRY_SECS: u64 = 7 * 24 * 3600;
/// Longest target name.
const MAX_TARGET_CHARS: usize = 100;
/// A mebibyte, for the sizes said in messages.
const MIB: usize = 1024 * 1024;
/// The least a capture takes in a bundle: a one-letter answer with its sequence, prompt hash
/// and times, no chunks (~190 bytes).
const MIN_CAPTURE_BYTES: usize = 190;
/// What a bundle holds besides the envelope's payload and the captures: the envelope's other
/// fields (its signature) and the `harness` object, at their largest.
const BUNDLE_OVERHEAD_BYTES: usize = 2 * 1024;

/// Build a signed pack: the chosen items of a dataset's newest version, each with the exact
/// prompt a harness must send and its SHA-256, for one target model, importable until it
/// expires. The answer is the DSSE envelope to hand to the harness; the server records the
/// pack so that only its own packs import.
#[utoipa::path(
    tag = "browser-harness",
    request_body = CreatePackRequest,
    responses(
        (status = 201, description = "The signed pack", body = EnvelopeDto),
        (status = 400, description = "Malformed JSON, wrong types or unknown fields", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown dataset or category, invalid target, expiry or selection, more than 20,000 items, or prompts making a pack too large for its bundle to be imported (32 MiB); `errors` names each field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable, or no signing key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/browser-harness/packs")]
pub(crate) async fn create_pack(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let request: CreatePackRequest = parse_json(body.into_inner().0, &["/selection"])?;
    let selection: ItemSelection = request
        .selection
        .clone()
        .map(Into::into)
        .unwrap_or_default();
    let (expires_in, mut errors) = validate(&request, &selection);
    // The dataset is looked up even when other fields are wrong, so that every problem is
    // reported at once; but only under a valid name (one the database can be asked about).
    let dataset = match DatasetName::parse(&request.dataset_name) {
        Ok(name) => {
            let found = state
                .with_db(move |db| db.find_dataset(name.as_str()))
                .await?;
            match &found {
                None => {
                    let name = request.dataset_name.clone();
                    let said = state.with_db(move |db| db.no_dataset_named(&name)).await?;
                    errors.push("datasetName", said);
                }
                // With the other problems, not after them.
                Some(dataset) => selection.check_categories(
                    "selection",
                    dataset.categories.iter().map(|c| c.name.as_str()),
                    &mut errors,
                ),
            }
            found
        }
        Err(_) => None,
    };
    errors.into_result().map_err(ApiError::invalid)?;
    let dataset = dataset.expect("a missing dataset is an error above");
    let harness = state.harness()?;
    // Signing happens beside the database work, off the request workers.
    let envelope = state
        .with_db(move |db| {
            let items = db.dataset_items(&dataset.id)?;
            let chosen = selection
                .apply(
                    "selection",
                    items.iter().map(|i| (i.id.as_str(), i.category.as_str())),
                )
                .map_err(StoreError::Invalid)?;
            if chosen.len() > MAX_PACK_ITEMS {
                return Err(StoreError::invalid(
                    "selection",
                    format!(
                        "selects {} items; a pack holds at most {MAX_PACK_ITEMS} (use sampleSize or categories)",
                        chosen.len()
                    ),
                ));
            }
            let chosen: Vec<_> = chosen.into_iter().map(|i| items[i].clone()).collect();
            let issued_at = truncate_to_micros(Utc::now());
            let pack = PackPayload::build(
                PackPayload::new_id(),
                issued_at,
                issued_at + expires_in,
                PackDataset {
                    name: dataset.name.to_string(),
                    version: dataset.version,
                    digest: dataset.digest.clone(),
                },
                request.target.clone(),
                &chosen,
            );
            let payload = pack.to_bytes();
            // The envelope goes back whole in the bundle, beside the captures: a pack whose
            // bundle would pass the import's limit with a one-letter answer to every item
            // cannot come back answered (only a part of it could).
            let envelope_bytes = payload.len().div_ceil(3) * 4;
            let smallest_bundle =
                envelope_bytes + BUNDLE_OVERHEAD_BYTES + pack.items.len() * MIN_CAPTURE_BYTES;
            if smallest_bundle > MAX_BUNDLE_BYTES {
                return Err(StoreError::invalid(
                    "selection",
                    format!(
                        "selects {} items whose prompts make an envelope of {:.1} MiB: with even a one-letter answer to each, its bundle would pass the {} MiB an import takes (use sampleSize or categories)",
                        pack.items.len(),
                        envelope_bytes as f64 / MIB as f64,
                        MAX_BUNDLE_BYTES / MIB,
                    ),
                ));
            }
            let envelope = pack.sign(harness.signer());
            db.record_pack(IssuedPack {
                id: &pack.pack_id,
                key_id: harness.signer().id().as_str(),
                dataset_id: &dataset.id,
                target: &pack.target,
                item_count: pack.items.len(),
                payload_sha256: &hex::encode(Sha256::digest(&payload)),
                issued_at: pack.issued_at,
                expires_at: pack.expires_at,
                selection: &selection,
            })?;
            Ok(envelope)
        })
        .await?;
    Ok(HttpResponse::Created().json(EnvelopeDto::from(envelope)))
}

/// Checks what can be checked without the database: the pack's life, and every problem found.
fn validate(
    request: &CreatePackRequest,
    selection: &ItemSelection,
) -> (Duration, ValidationErrors) {
    let mut errors = ValidationErrors::default();
    if DatasetName::parse(&request.dataset_name).is_err() {
        errors.push(
            "datasetName",
            format!("no dataset is named `{}`", shorten(&request.dataset_name)),
        );
    }
    let target_ok = (1..=MAX_TARGET_CHARS).contains(&request.target.len())
        && request
            .target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
    if !target_ok {
        errors.push(
            "target",
            format!("must be 1 to {MAX_TARGET_CHARS} letters, digits and . _ : / -"),
        );
    }
    let seconds = request.expires_in_seconds.unwrap_or(DEFAULT_EXPIRY_SECS);
    if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&seconds) {
        errors.push(
            "expiresInSeconds",
            format!("must be between {MIN_EXPIRY_SECS} and {MAX_EXPIRY_SECS} (30 days)"),
        );
    }
    selection.validate("selection", &mut errors);
    // Clamped before it becomes a duration: an out-of-range value is already refused above, and
    // a huge one would overflow chrono's `TimeDelta`.
    let seconds = seconds.clamp(MIN_EXPIRY_SECS, MAX_EXPIRY_SECS);
    (Duration::seconds(seconds as i64), errors)
}
