//! `POST /browser-harness/imports`: captures of a signed pack, imported as a judged run.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, http::header, post, web};
use chrono::Utc;
use evalboard_domain::{
    BROWSER_HARNESS_PROVIDER, JudgeSettings, Run, RunSettings, truncate_to_micros,
};
use evalboard_harness::{BundleError, Capture, VerifiedBundle, verify_bundle};
use evalboard_persistence::{CaptureImport, CapturedAnswer, ImportItem};
use evalboard_runner::judge::rule_judgment;
use tokio::sync::Semaphore;

use crate::{
    auth::Actor,
    body::{media_type, read_body},
    dto::{CaptureBundleDto, RunDetailDto, api_time},
    error::{ApiError, Problem},
    params::NoParameters,
    state::{AppState, FIX_UNTRUSTED_SIGNER},
};

/// Says why the bundle's key id does not verify when more is known than that the key is
/// unknown: the pack was signed with a key this server revoked (`harness.revoked_public_keys`),
/// said to whoever sends its captures, who can only ask for a new pack; or by this installation
/// (its packs table says so) with a key this server does not trust — another replica's own key,
/// a key rotated out and not listed as retired — said with what to fix.
fn explain_signer(problems: &mut [evalboard_harness::Problem], why: &str) {
    for problem in problems
        .iter_mut()
        .filter(|p| p.pointer == "/envelope/signatures/0/keyid")
    {
        problem.message = why.to_owned();
    }
}

/// Largest bundle accepted: the pack's envelope and the captures together — about 4 KiB an
/// MMLU-Pro item with a chain-of-thought answer and its chunks (half of it the envelope's
/// prompt), some 8,000 items. Packs too large to come back even with one-letter answers are
/// refused when asked for (`packs.rs`).
pub(crate) const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;

/// Import a capture bundle: the pack's envelope as issued, what the page answered to its
/// prompts, and the harness that recorded it. The signature, key, expiry and every capture are
/// checked; any problem is a 422 listing all of them by JSON Pointer, and nothing is written —
/// unless this very bundle was imported before, which answers 200 with its run even when it no
/// longer verifies (its pack expired since).
/// A valid bundle becomes a completed run (provider `Browser Harness`, the pack's target as
/// model) whose captured items are judged by the choice judge and whose other items are
/// `failed` as not captured. The same bundle sent again answers 200 with the run it made.
#[utoipa::path(
    tag = "browser-harness",
    request_body(content = CaptureBundleDto, content_type = "application/json",
        description = "A capture bundle (docs/harness-format.md)"),
    responses(
        (status = 201, description = "Run created from the captures", body = RunDetailDto,
            headers(("Location" = String, description = "`/runs/{run_id}`"))),
        (status = 200, description = "This bundle was imported before: its run", body = RunDetailDto,
            headers(("Location" = String, description = "`/runs/{run_id}`"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 32 MiB, or holding more JSON values than any bundle of its size (refused unread: its reading would take too much memory)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bundle does not verify or breaks the format; `errors` lists every problem, `field` a JSON Pointer into the body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable, or no signing key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/browser-harness/imports")]
pub(crate) async fn import_captures(
    state: web::Data<AppState>,
    req: HttpRequest,
    _: web::Query<NoParameters>,
    payload: web::Payload,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let harness = state.harness()?;
    let body = read_body(
        &req,
        payload,
        MAX_BUNDLE_BYTES,
        "the bundle is larger than 32 MiB",
    )
    .await?;
    // A bundle is parsed into a tree several times its size, then stored in one transaction:
    // bound how many are at it at once. (The turn is taken after the upload, so that slow
    // uploads cannot hold it.)
    let _turn = IMPORTS
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
    // Parsing and checking thousands of captures is CPU work: off the request workers.
    let checked = web::block(move || verify_bundle(&body, harness.ring(), Utc::now()))
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
    let bundle = match checked {
        Ok(bundle) => bundle,
        Err(BundleError::Invalid {
            mut problems,
            digest,
            unknown_key,
        }) => {
            // A bundle imported before is recognised even if it no longer verifies (its pack
            // expired since, its key was dropped): a harness retrying gets its run.
            let harness = state.harness()?;
            let revoked = unknown_key
                .as_deref()
                .is_some_and(|key| harness.is_revoked(key));
            let (known, signed_here) = state
                .with_db(move |db| {
                    let known = db.imported_run(&digest)?;
                    let signed_here = match (&known, unknown_key) {
                        (None, Some(key)) => harness
                            .untrusted_signers(db, truncate_to_micros(Utc::now()))?
                            .iter()
                            .any(|(signer, _)| *signer == key),
                        _ => false,
                    };
                    Ok((known, signed_here))
                })
                .await?;
            if revoked {
                explain_signer(
                    &mut problems,
                    "is the id of a key this server revoked: captures of the packs it signed \
                     are not imported; ask for a new pack",
                );
            } else if signed_here {
                explain_signer(
                    &mut problems,
                    &format!(
                        "is the id of a key this installation signed packs with, which this \
                         server does not trust: {FIX_UNTRUSTED_SIGNER}"
                    ),
                );
            }
            return match known {
                Some(run) => Ok(run_response(HttpResponse::Ok(), &run, &state)),
                None => Err(BundleError::Invalid {
                    problems,
                    digest: String::new(),
                    unknown_key: None,
                }
                .into()),
            };
        }
        Err(malformed) => return Err(malformed.into()),
    };

    let created = state
        .with_db(move |db| {
            let items = import_items(&bundle);
            let notes = notes(&bundle);
            let settings = RunSettings {
                judge: Some(JudgeSettings::Choice),
                ..RunSettings::default()
            };
            db.import_captures(CaptureImport {
                bundle_digest: &bundle.digest,
                pack_id: &bundle.pack.pack_id,
                key_id: bundle.key.id.as_str(),
                payload_sha256: &bundle.payload_sha256,
                provider_name: BROWSER_HARNESS_PROVIDER,
                requested_by: actor.name.as_deref(),
                model_name: &bundle.pack.target,
                settings: &settings,
                prompt_template: &bundle.pack.prompt_template,
                items: &items,
                notes: &notes,
                judge: &|item, response, at| rule_judgment(response, item, at),
                at: truncate_to_micros(Utc::now()),
            })
        })
        .await?;
    let status = if created.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(run_response(status, &created.run, &state))
}

/// Bundles verified and imported at once, per server.
static IMPORTS: Semaphore = Semaphore::const_new(2);

fn run_response(mut status: HttpResponseBuilder, run: &Run, state: &AppState) -> HttpResponse {
    status.insert_header((
        header::LOCATION,
        state.base_path().url(&format!("/runs/{}", run.id)),
    ));
    status.json(RunDetailDto::new(run, false))
}

/// A bundle is JSON; a body sent as something else is refused before it is read. No
/// `Content-Type` is taken as JSON.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match media_type(req) {
        None if !req.headers().contains_key(header::CONTENT_TYPE) => Ok(()),
        Some(media) if media == "application/json" || media.ends_with("+json") => Ok(()),
        // Another type, or a header that is not readable text.
        _ => Err(ApiError::UnsupportedMediaType(
            "a capture bundle is sent as application/json".into(),
        )),
    }
}

/// Every item of the pack, in sequence order, with its capture when there is one.
fn import_items(bundle: &VerifiedBundle) -> Vec<ImportItem<'_>> {
    let captured: HashMap<u32, &Capture> =
        bundle.captures.iter().map(|c| (c.sequence, c)).collect();
    bundle
        .pack
        .items
        .iter()
        .map(|item| ImportItem {
            dataset_item_id: &item.dataset_item_id,
            prompt: &item.prompt_text,
            capture: captured.get(&item.sequence).map(|capture| CapturedAnswer {
                response_text: &capture.response_text,
                started_at: truncate_to_micros(capture.started_at),
                first_token_at: capture.chunks.first().map(|c| truncate_to_micros(c.at)),
                answered_at: truncate_to_micros(capture.finished_at),
                page: &capture.page,
            }),
        })
        .collect()
}

/// What the run's log records of where its answers came from.
fn notes(bundle: &VerifiedBundle) -> Vec<String> {
    let pack = &bundle.pack;
    let harness = &bundle.harness;
    vec![
        format!(
            "Browser Harness pack `{}` for target `{}`, issued {} (expires {}), signed by key {} ({})",
            pack.pack_id,
            pack.target,
            api_time(pack.issued_at),
            api_time(pack.expires_at),
            bundle.key.id,
            bundle.key.status.as_str(),
        ),
        format!(
            "captured by harness `{}` version `{}`, user agent `{}`; bundle {}",
            harness.name, harness.version, harness.user_agent, bundle.digest
        ),
        if bundle.captures.len() < pack.items.len() {
            format!(
                "{} of {} item(s) captured; the others fail as not captured",
                bundle.captures.len(),
                pack.items.len()
            )
        } else {
            format!("all {} item(s) captured", pack.items.len())
        },
    ]
}
