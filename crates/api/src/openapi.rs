//! The OpenAPI document, derived from the handlers as they are registered, so it cannot drift
//! from the routes.

use actix_web::{
    App,
    dev::{ServiceFactory, ServiceRequest},
    http::Method,
};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::{
    dto::{
        ItemEndEventDto, ItemTextEventDto, ResetEventDto, RunItemEventDto, RunProgressEventDto,
        RunStatusEventDto,
    },
    error::{Problem, ProblemItem},
    handlers,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "evalboard",
        description = "Runs LLM evaluations and serves the dashboard that watches them: runs, \
            the active board, the archive, datasets and providers. Errors are RFC 9457 \
            `application/problem+json`; timestamps are RFC 3339 UTC with `Z`. `GET /runs/events` \
            streams `run_status`, `run_progress`, `run_item` and `reset` events whose payloads \
            are the `*EventDto` schemas (see docs/events.md); `GET /runs/{run_id}/items/{sequence}/stream` \
            streams one item's answer as `item_text` and `item_end`. This document is \
            generated from the code by `cargo xtask openapi`; do not edit it by hand.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "runs", description = "Create, list and inspect runs"),
        (name = "datasets", description = "Datasets runs draw their items from"),
        (name = "providers", description = "Configured providers and models"),
        (name = "browser-harness", description = "Signed prompt packs for models used in a browser, and imports of their captures as runs"),
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Who is signed in; the dashboard's session"),
    ),
    components(schemas(
        Problem,
        ProblemItem,
        RunStatusEventDto,
        RunProgressEventDto,
        RunItemEventDto,
        ResetEventDto,
        ItemTextEventDto,
        ItemEndEventDto
    ))
)]
struct BaseDocument;

/// The application's routes, with the document collected from them.
pub(crate) fn routed_app() -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    let mut base = BaseDocument::openapi();
    base.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let (app, mut document) = App::new()
        .into_utoipa_app()
        .openapi(base)
        .configure(handlers::routes)
        .split_for_parts();
    declare_security(&mut document);
    describe_event_streams(&mut document);
    headers_are_never_null(&mut document);
    request_id_on_every_response(&mut document);
    declare_word_sets(&mut document);
    close_tagged_variants(&mut document, "JudgeDto");
    (app, document)
}

/// Declares how requests authenticate (a bearer token, or the dashboard's session cookie), and
/// on every operation that needs a role its 401 and 403; on every operation the 400 of a query
/// string that is not UTF-8, and but for the health checks the 429 of the limits; on every `POST`, the 408 of a silent body and the 415 of a
/// body that is untyped, text or a form. What needs a role is what the middleware checks
/// ([`crate::auth::required_role`]), so the two cannot drift.
fn declare_security(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        ContentBuilder, Ref, ResponseBuilder,
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
    };
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A token from `evalboard token create`. A server on a loopback address \
                     without configured tokens needs none.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::auth::COOKIE,
            "The dashboard's session, from `POST /auth/session`: the cookie is named \
             `evalboard_session_` followed by the installation's id (12 hex digits), the same \
             on every replica.",
        ))),
    );
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            match crate::auth::required_role(&method, path) {
                Some(role) => {
                    operation.security = Some(vec![
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                        SecurityRequirement::new("session", Vec::<String>::new()),
                    ]);
                    responses.entry("401".into()).or_insert_with(|| {
                        problem("No token or session this server accepts").into()
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        problem(&format!("The token's role is below {role}")).into()
                    });
                }
                // Anyone may call it (a token, if sent, is read).
                None => operation.security = Some(vec![SecurityRequirement::default()]),
            }
            // The limits one client meets (`limits.rs`): everything but the health checks.
            if crate::limits::rate_limited(path) {
                responses.entry("429".into()).or_insert_with(|| {
                    problem("Too many requests (or event streams, exports or requests with a body in progress) from this client; `Retry-After` says when to come back").into()
                });
            }
            // Every path (`encoding.rs`).
            responses.entry("400".into()).or_insert_with(|| {
                problem("The query string is not UTF-8 once percent-decoded").into()
            });
            if method == Method::POST {
                responses.entry("408".into()).or_insert_with(|| {
                    problem("The body sent nothing, or too little, for too long (`http.body_idle_timeout_secs`, `http.body_min_bytes_per_sec`)")
                        .into()
                });
                responses.entry("415".into()).or_insert_with(|| {
                    problem("The body is untyped, text or a form (send `Content-Type: application/json`), or of a type this endpoint does not read").into()
                });
            }
        }
    }
}

/// Each event stream's `text/event-stream` schema describes one event (as OpenAPI before 3.2
/// does without `itemSchema`): its `event` name, its `id` where the stream resumes, and its
/// `data` as JSON of the payload schema (`contentMediaType` and `contentSchema`), so that a
/// client, or schemathesis, can check every event it reads.
fn describe_event_streams(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        RefOr, Schema,
        schema::{ObjectBuilder, OneOfBuilder, Type},
    };
    let event = |name: &str, payload: &str, resumable: bool| -> RefOr<Schema> {
        let mut data = ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/json")
            .description(Some(format!("The `{payload}` payload, as JSON")))
            .build();
        // `contentSchema` (JSON Schema 2020-12) has no field in utoipa's object.
        data.extensions = Some(
            [(
                "contentSchema",
                serde_json::json!({ "$ref": format!("#/components/schemas/{payload}") }),
            )]
            .into_iter()
            .collect(),
        );
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([name])),
            )
            .required("event")
            .property("data", data)
            .required("data");
        if resumable {
            object = object
                .property(
                    "id",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[0-9]+$"))
                        .description(Some("The position to resume after (`Last-Event-ID`)")),
                )
                .required("id");
        }
        object.build().into()
    };
    let streams: [(&str, Vec<RefOr<Schema>>); 2] = [
        (
            "/runs/events",
            vec![
                event("run_status", "RunStatusEventDto", true),
                event("run_progress", "RunProgressEventDto", true),
                event("run_item", "RunItemEventDto", true),
                event("reset", "ResetEventDto", true),
            ],
        ),
        (
            "/runs/{run_id}/items/{sequence}/stream",
            vec![
                event("item_text", "ItemTextEventDto", false),
                event("item_end", "ItemEndEventDto", false),
            ],
        ),
    ];
    for (path, events) in streams {
        let stream = events
            .into_iter()
            .fold(OneOfBuilder::new(), OneOfBuilder::item)
            .description(Some("One event of the stream"))
            .build();
        let content = document
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| item.get.as_mut())
            .and_then(|get| get.responses.responses.get_mut("200"))
            .and_then(|response| match response {
                RefOr::T(response) => response.content.get_mut("text/event-stream"),
                RefOr::Ref(_) => None,
            })
            .and_then(|content| match content {
                RefOr::T(content) => Some(content),
                RefOr::Ref(_) => None,
            })
            .unwrap_or_else(|| panic!("{path} answers 200 with an event stream"));
        content.schema = Some(Schema::OneOf(stream).into());
    }
}

/// utoipa marks an optional header's schema nullable, but a header is text or absent: a
/// client (or schemathesis) reading the document would send the text `null`, which the server
/// refuses. Optional headers stay optional through `required: false`.
fn headers_are_never_null(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema, Type, path::ParameterIn, schema::SchemaType};
    let operations = document.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
    });
    for operation in operations {
        let parameters = operation.parameters.iter_mut().flatten();
        for parameter in parameters.filter_map(|parameter| match parameter {
            RefOr::T(parameter) => Some(parameter),
            RefOr::Ref(_) => None,
        }) {
            if !matches!(parameter.parameter_in, ParameterIn::Header) {
                continue;
            }
            if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
                && let SchemaType::Array(types) = &mut object.schema_type
            {
                types.retain(|t| *t != Type::Null);
                if let [only] = &types[..] {
                    object.schema_type = SchemaType::Type(only.clone());
                }
            }
        }
    }
}

/// Declares `X-Request-Id` on every response of every operation, as the request log's
/// middleware sets it ([`crate::request_log`]): the id to quote when reporting a problem. One
/// header in the components, referred to from each response.
fn request_id_on_every_response(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type, header::HeaderBuilder};
    const NAME: &str = "X-Request-Id";
    let header = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "The id under which the server logged this request (docs/operations.md)",
        ))
        .build();
    document
        .components
        .get_or_insert_with(Default::default)
        .headers
        .insert(NAME.to_owned(), RefOr::T(header));
    let operations = document.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
    });
    for operation in operations {
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.headers.insert(
                    NAME.to_owned(),
                    RefOr::Ref(Ref::new(format!("#/components/headers/{NAME}"))),
                );
            }
        }
    }
}

/// Declares the fixed sets of words some text fields hold as enumerations (the DTOs keep them
/// as text, described in words): a client generated from the document types `run.status` as
/// one of five words rather than any string. A field named here that the document lacks
/// panics, so a renamed field cannot leave its words behind.
fn declare_word_sets(document: &mut utoipa::openapi::OpenApi) {
    use evalboard_domain::{ExtractionTier, ItemState, RunStatus};
    use serde_json::Value;
    use utoipa::openapi::{RefOr, Schema, Type, schema::SchemaType};
    let statuses: Vec<&str> = RunStatus::ALL.map(RunStatus::as_str).to_vec();
    let states: Vec<&str> = ItemState::ALL.map(ItemState::as_str).to_vec();
    let tiers: Vec<&str> = ExtractionTier::ALL.map(ExtractionTier::as_str).to_vec();
    let verdicts = vec!["correct", "incorrect"];
    let fields: [(&str, &str, &[&str]); 16] = [
        ("RunDto", "status", &statuses),
        ("RunStatusEventDto", "status", &statuses),
        ("RunStatusEventDto", "previousStatus", &statuses),
        ("ItemSnapshotDto", "state", &states),
        ("ItemDetailDto", "state", &states),
        ("FlippedOutcomeDto", "state", &states),
        ("ItemDetailDto", "verdict", &verdicts),
        ("VerdictDto", "verdict", &verdicts),
        ("ItemDetailDto", "extractionTier", &tiers),
        ("VerdictDto", "extractionTier", &tiers),
        ("LogEntryDto", "level", &["debug", "info", "warn", "error"]),
        ("ItemPageDto", "groupBy", &["category", "state", "none"]),
        ("ResetEventDto", "reason", &["pruned", "unknown_position"]),
        (
            "ItemEndEventDto",
            "reason",
            &["ended", "not_streaming_here"],
        ),
        ("HealthDto", "status", &["ok", "ready"]),
        ("PublicKeyDto", "status", &["active", "retired"]),
    ];
    let schemas = &mut document
        .components
        .as_mut()
        .expect("the document has components")
        .schemas;
    for (name, field, words) in fields {
        let property = match schemas.get_mut(name) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(field),
            _ => None,
        };
        let Some(RefOr::T(Schema::Object(property))) = property else {
            panic!("{name}.{field} is a text field of the document");
        };
        let nullable = matches!(&property.schema_type, SchemaType::Array(types) if types.contains(&Type::Null));
        let mut values: Vec<Value> = words.iter().map(|&word| Value::from(word)).collect();
        if nullable {
            values.push(Value::Null);
        }
        property.enum_values = Some(values);
    }
}

/// utoipa leaves the variants of an internally tagged enum open even when serde denies unknown
/// fields (it does close structs), so the document would allow what the server refuses.
fn close_tagged_variants(document: &mut utoipa::openapi::OpenApi, name: &str) {
    use utoipa::openapi::{RefOr, Schema, schema::AdditionalProperties};
    let schema = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut(name));
    let Some(RefOr::T(Schema::OneOf(one_of))) = schema else {
        panic!("{name} is a oneOf schema");
    };
    for variant in &mut one_of.items {
        if let RefOr::T(Schema::Object(object)) = variant {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routed_app().1
}

/// The document as `docs/openapi.json` holds it: pretty JSON, with a trailing newline.
pub fn openapi_json() -> String {
    to_json(&openapi())
}

pub(crate) fn to_json(document: &utoipa::openapi::OpenApi) -> String {
    let mut json = document.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
