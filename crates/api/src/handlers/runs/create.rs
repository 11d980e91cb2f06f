//! `POST /runs`: create a run.

use actix_web::{HttpRequest, HttpResponse, http::header, post, web};
use chrono::Utc;
use evalboard_domain::{
    BROWSER_HARNESS_PROVIDER, DatasetName, JudgeSettings, RunSettings, ValidationErrors,
    truncate_to_micros,
};
use evalboard_persistence::{IdempotencyKey, NewRun, ProviderIdentity};
use evalboard_runner::{ProviderKind, ProviderRegistry};
use sha2::{Digest, Sha256};

use crate::{
    auth::Actor,
    body::{JsonObject, parse_json},
    dto::{CreateRunRequest, RunDetailDto},
    error::{ApiError, Problem},
    params::NoParameters,
    params::shorten,
    state::AppState,
};

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Create a run: one item per selected dataset item, all `pending`.
///
/// With an `Idempotency-Key` header, repeating the same request returns the run the first one
/// created (same status and body, plus `Idempotent-Replayed: true`); the same key with a
/// different body is a 409.
#[utoipa::path(
    tag = "runs",
    request_body = CreateRunRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "1 to 255 visible ASCII characters; makes retries of this request safe")),
    responses(
        (status = 201, description = "Run created (or replayed)", body = RunDetailDto,
            headers(("Location" = String, description = "`/runs/{run_id}`"),
                ("Idempotent-Replayed" = String, description = "`true` when this replays the run an earlier request with the same `Idempotency-Key` created; absent otherwise"))),
        (status = 400, description = "Malformed JSON, wrong types, unknown fields or a bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with a different request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown provider, model or dataset, or invalid settings; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs")]
pub(crate) async fn create_run(
    state: web::Data<AppState>,
    req: HttpRequest,
    _: web::Query<NoParameters>,
    body: web::Json<JsonObject>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let request: CreateRunRequest = parse_json(body.into_inner().0, &OBJECTS)?;
    // Keys are each token's own (a name holds one role, and rotated tokens share it): one
    // client's retry must not be answered with, or refused for, another client's run. A space
    // joins them, which neither a key nor a name holds.
    let idempotency_key = idempotency_key(&req)?.map(|key| match &actor.name {
        Some(name) => format!("{name} {key}"),
        None => key,
    });
    let settings = match validate(&state, &request) {
        Ok(settings) => settings,
        Err(mut errors) => {
            // Refused anyway: say what is wrong with the dataset and the selection too, so that
            // one answer names every field (the happy path leaves this to `create_run`).
            if let Some(settings) = errors.settings.take() {
                let name = request.dataset_name.clone();
                let version = request.dataset_version;
                let target = state
                    .with_db(move |db| db.check_run_target(&name, version, &settings))
                    .await?;
                errors.add_target(target);
            }
            return Err(ApiError::invalid(errors.errors));
        }
    };
    // The request's meaning, not its spelling: `"settings": {}` and no settings are the same.
    // A version is hashed only when named, so that a request without one hashes as it did
    // before versions could be named (a retry across an upgrade still replays).
    let meaning = (
        &request.provider_name,
        &request.dataset_name,
        &request.model_name,
        &settings,
    );
    let request_hash = hex::encode(Sha256::digest(
        match request.dataset_version {
            None => serde_json::to_vec(&meaning),
            Some(version) => serde_json::to_vec(&(meaning, version)),
        }
        .map_err(|_| ApiError::Internal)?,
    ));

    // Stored as in force, defaults filled in: the run shows (and keeps) what it runs with.
    let settings = match state.providers.get(&request.provider_name) {
        Some(provider) => {
            settings.with_defaults(&provider.settings_defaults(state.default_run_concurrency))
        }
        None => settings,
    };
    let provider = state
        .providers
        .get(&request.provider_name)
        .map(|p| (p.kind.as_str(), p.base_url.clone()));
    let created = state
        .with_db(move |db| {
            db.create_run(NewRun {
                provider_name: &request.provider_name,
                model_name: &request.model_name,
                dataset_name: &request.dataset_name,
                dataset_version: request.dataset_version,
                settings: &settings,
                provider: provider.as_ref().map(|(kind, base_url)| ProviderIdentity {
                    kind,
                    base_url: base_url.as_deref(),
                }),
                idempotency: idempotency_key.as_deref().map(|key| IdempotencyKey {
                    key,
                    request_hash: &request_hash,
                }),
                requested_by: actor.name.as_deref(),
                at: truncate_to_micros(Utc::now()),
            })
        })
        .await?;

    let mut response = HttpResponse::Created();
    response.insert_header((
        header::LOCATION,
        state.base_path().url(&format!("/runs/{}", created.run.id)),
    ));
    if created.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    state.wake_engine();
    Ok(response.json(RunDetailDto::new(
        &created.run,
        state.is_simulated(&created.run),
    )))
}

/// The objects of a run request. serde would also read a struct written as a JSON array
/// (`"selection": [null, 5]`); the wire format has objects only, so anything else is refused
/// here, by path.
const OBJECTS: [&str; 6] = [
    "/settings",
    "/settings/selection",
    "/settings/generation",
    "/settings/simulated",
    "/settings/judge",
    "/settings/budget",
];

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all("Idempotency-Key");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // Which of two keys would a retry send? Refused rather than one picked.
    if values.next().is_some() {
        return Err(ApiError::bad_parameter(
            "Idempotency-Key",
            "must be sent once: this request has several",
        ));
    }
    let key = value.to_str().ok().filter(|k| {
        (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
    });
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(ApiError::bad_parameter(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        )),
    }
}

/// What [`validate`] refused.
struct Refused {
    errors: ValidationErrors,
    /// The settings to check the dataset and selection with against the database, when the
    /// dataset's name is well formed (without the parts of the selection out of bounds).
    settings: Option<Box<RunSettings>>,
}

impl Refused {
    /// Adds the database's findings on the dataset and selection, in the order of the fields.
    fn add_target(&mut self, target: ValidationErrors) {
        self.errors.0.extend(target.0);
        let order = |field: &str| {
            [
                "providerName",
                "modelName",
                "datasetName",
                "datasetVersion",
                "settings",
            ]
            .iter()
            .position(|prefix| field.starts_with(prefix))
            .unwrap_or(usize::MAX)
        };
        self.errors.0.sort_by_key(|e| order(&e.field));
    }
}

/// `no provider is named `name``, with the names of those configured (a handful, from the
/// server's configuration): a misspelt or miscased name is then seen at once.
fn no_provider_named(providers: &ProviderRegistry, name: &str) -> String {
    let names: Vec<&str> = providers
        .providers()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    format!(
        "no provider is named `{}` (the providers: {})",
        shorten(name),
        names.join(", ")
    )
}

/// Checks what can be checked without the database: provider (configured, with its key), model
/// and settings bounds. Every problem is reported at once. The dataset and selection are checked
/// when the run is stored, or by the caller when something else is wrong already.
fn validate(state: &AppState, request: &CreateRunRequest) -> Result<RunSettings, Refused> {
    let mut errors = ValidationErrors::default();
    match state.providers.get(&request.provider_name) {
        // The archive lists its runs, so it is asked for: its runs come from captures.
        None if request.provider_name == BROWSER_HARNESS_PROVIDER => errors.push(
            "providerName",
            format!(
                "`{BROWSER_HARNESS_PROVIDER}` runs are made from captures, not sent by the \
                 server: build a pack (`POST /browser-harness/packs`), play it, and import its \
                 captures (`POST /browser-harness/imports`)"
            ),
        ),
        None => errors.push(
            "providerName",
            no_provider_named(&state.providers, &request.provider_name),
        ),
        Some(provider) => {
            if let Some(problem) = missing_key(provider) {
                errors.push("providerName", problem);
            }
            if !provider.has_model(&request.model_name) {
                errors.push(
                    "modelName",
                    format!(
                        "provider `{}` has no model `{}` (it has: {})",
                        provider.name,
                        shorten(&request.model_name),
                        provider.models.join(", ")
                    ),
                );
            }
        }
    }
    let dataset_named = DatasetName::parse(&request.dataset_name).is_ok();
    if !dataset_named {
        errors.push(
            "datasetName",
            format!("no dataset is named `{}`", shorten(&request.dataset_name)),
        );
    }
    let settings: RunSettings = request.settings.clone().unwrap_or_default().into();
    // Which parts of the selection are within their bounds, to be checked against the data.
    let (mut sample_valid, mut categories_valid) = (true, true);
    if let Err(invalid) = settings.validate() {
        for error in &invalid.0 {
            if error.field.starts_with("settings.selection.categories") {
                categories_valid = false;
            } else if error.field.starts_with("settings.selection") {
                sample_valid = false;
            }
        }
        errors.0.extend(invalid.0);
    }
    let simulated_provider = state
        .providers
        .get(&request.provider_name)
        .is_some_and(|p| p.kind == ProviderKind::Simulated);
    if settings.simulated.is_some() && !simulated_provider {
        errors.push(
            "settings.simulated",
            "only runs on a simulated provider take simulated settings",
        );
    }
    if let Some(judge) = &settings.judge {
        check_judge(&state.providers, judge, "settings.judge", &mut errors);
    }
    check_cost_budget(state, request, &settings, &mut errors);
    if errors.0.is_empty() {
        return Ok(settings);
    }
    let mut settings = settings;
    if !sample_valid {
        settings.selection.sample_size = None;
        settings.selection.seed = None;
    }
    if !categories_valid {
        settings.selection.categories = None;
    }
    Err(Refused {
        errors,
        settings: dataset_named.then(|| Box::new(settings)),
    })
}

/// A cost budget needs a price to count against: of the model, or of its LLM judge. Without
/// either, the run's cost is unknown and the budget would never stop it, whatever it spent.
fn check_cost_budget(
    state: &AppState,
    request: &CreateRunRequest,
    settings: &RunSettings,
    errors: &mut ValidationErrors,
) {
    if settings
        .budget
        .as_ref()
        .and_then(|b| b.max_cost_usd)
        .is_none()
    {
        return;
    }
    let priced = |provider: &str, model: &str| {
        state
            .providers
            .get(provider)
            .and_then(|p| p.price(model))
            .is_some()
    };
    let judge_priced = match &settings.judge {
        Some(JudgeSettings::Llm {
            provider_name,
            model_name,
        }) => priced(provider_name, model_name),
        _ => false,
    };
    let model_known = state
        .providers
        .get(&request.provider_name)
        .is_some_and(|p| p.has_model(&request.model_name));
    if model_known && !priced(&request.provider_name, &request.model_name) && !judge_priced {
        errors.push(
            "settings.budget.maxCostUsd",
            format!(
                "`{}` has no price on provider `{}` (prices in the provider's configuration){}: \
                 its cost is unknown, and a cost budget would never stop it; cap its tokens \
                 (maxTokens) instead",
                request.model_name,
                request.provider_name,
                if matches!(settings.judge, Some(JudgeSettings::Llm { .. })) {
                    ", nor has its LLM judge"
                } else {
                    ""
                }
            ),
        );
    }
}

/// Checks that an LLM judge names a configured model of a provider with its key; problems go
/// to `errors` under `field` (`settings.judge`, or `judge`).
pub(crate) fn check_judge(
    providers: &ProviderRegistry,
    judge: &JudgeSettings,
    field: &str,
    errors: &mut ValidationErrors,
) {
    let JudgeSettings::Llm {
        provider_name,
        model_name,
    } = judge
    else {
        return;
    };
    match providers.get(provider_name) {
        None => errors.push(
            format!("{field}.providerName"),
            no_provider_named(providers, provider_name),
        ),
        Some(provider) => {
            if let Some(problem) = missing_key(provider) {
                errors.push(format!("{field}.providerName"), problem);
            }
            if !provider.has_model(model_name) {
                errors.push(
                    format!("{field}.modelName"),
                    format!(
                        "provider `{}` has no model `{}`",
                        provider.name,
                        shorten(model_name)
                    ),
                );
            }
        }
    }
}

/// Why runs on `provider` cannot start, when its API key variable is not set: nothing could be
/// sent, so the run is refused at the door instead of failing a moment later.
pub(super) fn missing_key(provider: &evalboard_runner::Provider) -> Option<String> {
    provider.missing_key().map(|var| {
        format!(
            "provider `{}` has no API key: set the environment variable {var} for the server \
             and restart it",
            provider.name
        )
    })
}
