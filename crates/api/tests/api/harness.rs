//! The Browser Harness over HTTP: keys, signed packs, and imports of captures as runs — the
//! genuine bundle and the tampered ones.

use actix_web::test::TestRequest;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{Duration, SecondsFormat, Utc};
use evalboard_domain::{AnswerKey, DatasetId, render_prompt};
use evalboard_harness::{PackDataset, PackPayload, PackSigner, pae, prompt_sha256};
use evalboard_persistence::IssuedPack;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{
    Reply, TestApp, api_tests, app, app_bounds, import, items, now, retired_key, signing_key,
};

api_tests!(
    keys_are_published_without_anything_private,
    the_json_schemas_are_published,
    a_pack_is_signed_and_holds_the_chosen_prompts,
    bad_pack_requests_are_refused_with_every_problem,
    a_pack_too_large_to_come_back_is_refused,
    captures_import_as_a_judged_run_once,
    tampered_bundles_are_refused_and_write_nothing,
    a_pack_signed_by_a_retired_key_still_imports,
    an_expired_or_foreign_pack_does_not_import,
    oversized_and_malformed_bodies_are_refused,
    a_bundle_is_the_same_bundle_in_any_order_and_after_it_stops_verifying,
    an_envelope_not_as_issued_does_not_import,
    the_same_bundle_sent_twice_at_once_makes_one_run,
    a_pack_of_the_previous_prompt_template_still_imports,
    a_run_of_captures_records_the_packs_selection,
);

/// Decodes a pack envelope's payload.
fn payload(envelope: &Value) -> Value {
    let bytes = BASE64
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Answers naming option `letter`.
fn answer(letter: char) -> String {
    format!("Let me think step by step. The answer is ({letter}).")
}

/// A bundle answering `answers` (sequence, response) of the pack in `envelope`.
fn bundle(envelope: &Value, answers: &[(u32, String)]) -> Value {
    let pack = payload(envelope);
    let captures: Vec<Value> = answers
        .iter()
        .map(|(sequence, response)| {
            let item = &pack["items"][*sequence as usize - 1];
            // Played after the pack was issued (whole seconds), as a harness plays it.
            let started = Utc::now() + Duration::seconds(1);
            let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
            json!({
                "sequence": sequence,
                "promptSha256": item["promptSha256"],
                "responseText": response,
                "startedAt": time(started),
                "finishedAt": time(started + Duration::seconds(5)),
                "chunks": [{"offset": 0, "text": response, "at": time(started + Duration::seconds(2))}],
                "page": {"url": "https://chat.example/c/42"},
            })
        })
        .collect();
    json!({
        "envelope": envelope,
        "harness": {"name": "playwright-harness", "version": "0.3.1", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"},
        "captures": captures,
    })
}

async fn create_pack(app: &TestApp<app_bounds!()>, request: Value) -> Value {
    app.post_json("/browser-harness/packs", &request)
        .await
        .ok(201)
}

async fn import_bundle(app: &TestApp<app_bounds!()>, bundle: &Value) -> Reply {
    app.post_json("/browser-harness/imports", bundle).await
}

async fn run_count(app: &TestApp<app_bounds!()>) -> usize {
    app.get("/runs?limit=100").await.ok(200)["runs"]
        .as_array()
        .unwrap()
        .len()
}

async fn keys_are_published_without_anything_private(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    let reply = app.get("/browser-harness/keys").await;
    let keys = reply.ok(200);
    let listed = keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let active = signing_key();
    assert_eq!(listed[0]["keyId"], active.id().as_str());
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["algorithm"], "ed25519");
    assert_eq!(
        listed[0]["publicKey"],
        BASE64.encode(active.public_key().as_bytes())
    );
    assert_eq!(listed[1]["keyId"], retired_key().id().as_str());
    assert_eq!(listed[1]["status"], "retired");
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        !text.contains(&BASE64.encode([0x11; 32])),
        "the seed is private"
    );
    assert!(!text.contains("PRIVATE"));
}

/// Both JSON Schemas are served as published in docs/schemas/, each naming itself by its path.
async fn the_json_schemas_are_published(db: evalboard_persistence::testing::TestDatabase) {
    let app = app(db).await;
    for (name, text) in evalboard_harness::schema_documents() {
        let path = format!("/browser-harness/schemas/{name}");
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/schema+json")
        );
        assert_eq!(String::from_utf8_lossy(&reply.body), text.as_str());
        assert_eq!(reply.json()["$id"], path);
    }
    assert_eq!(
        app.get("/browser-harness/schemas/other.json").await.status,
        404
    );
}

async fn a_pack_is_signed_and_holds_the_chosen_prompts(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    let dataset = items(30);
    import(&app.db, "demo", &dataset);

    let envelope = create_pack(
        &app,
        json!({"datasetName": "demo", "target": "chatgpt-web", "selection": {"sampleSize": 4}}),
    )
    .await;
    // The signature verifies against the published key, over DSSE's PAE.
    assert_eq!(
        envelope["payloadType"],
        "application/vnd.evalboard.harness-pack.v1+json"
    );
    let keys = app.get("/browser-harness/keys").await.ok(200);
    let signature = &envelope["signatures"][0];
    assert_eq!(signature["keyid"], keys["keys"][0]["keyId"]);
    let public: [u8; 32] = BASE64
        .decode(keys["keys"][0]["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek_key(&public);
    let bytes = BASE64
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let sig: [u8; 64] = BASE64
        .decode(signature["sig"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert!(verify(
        &key,
        &pae(envelope["payloadType"].as_str().unwrap(), &bytes),
        &sig
    ));

    let pack = payload(&envelope);
    assert!(pack["packId"].as_str().unwrap().starts_with("pack-"));
    assert_eq!(pack["target"], "chatgpt-web");
    assert_eq!(pack["dataset"]["name"], "demo");
    assert_eq!(pack["dataset"]["version"], 1);
    assert!(
        pack["dataset"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let issued = chrono::DateTime::parse_from_rfc3339(pack["issuedAt"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(pack["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - issued, Duration::days(7), "the default life");
    let listed = pack["items"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "the first N");
    for (index, item) in listed.iter().enumerate() {
        assert_eq!(item["sequence"], index + 1);
        assert_eq!(item["datasetItemId"], dataset[index].id);
        let prompt = item["promptText"].as_str().unwrap();
        assert_eq!(prompt, render_prompt(&dataset[index], &[]));
        assert_eq!(item["promptSha256"], prompt_sha256(prompt));
        assert_eq!(
            item["promptSha256"],
            hex::encode(Sha256::digest(prompt.as_bytes()))
        );
        assert_eq!(item["choices"], json!(dataset[index].choices));
    }

    // A seeded random sample is reproducible; categories filter.
    let seeded = json!({"datasetName": "demo", "target": "claude-web", "selection": {"sampleSize": 5, "seed": 7}});
    let ids = |pack: &Value| -> Vec<String> {
        pack["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["datasetItemId"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = ids(&payload(&create_pack(&app, seeded.clone()).await));
    let second = ids(&payload(&create_pack(&app, seeded).await));
    assert_eq!(first, second);
    assert_ne!(
        first,
        ids(&pack)[..4]
            .iter()
            .cloned()
            .chain(["q4".into()])
            .collect::<Vec<_>>()
    );
    let law = payload(
        &create_pack(
            &app,
            json!({"datasetName": "demo", "target": "x", "selection": {"categories": ["law"]}, "expiresInSeconds": 3600}),
        )
        .await,
    );
    assert_eq!(law["items"].as_array().unwrap().len(), 10);
    let all = payload(&create_pack(&app, json!({"datasetName": "demo", "target": "x"})).await);
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        30,
        "all items by default"
    );
}

fn ed25519_dalek_key(bytes: &[u8; 32]) -> evalboard_harness::VerifyingKey {
    evalboard_harness::VerifyingKey::from_bytes(bytes).unwrap()
}

/// The fields a problem's `errors` name, in order.
fn fields_of(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

fn verify(key: &evalboard_harness::VerifyingKey, message: &[u8], sig: &[u8; 64]) -> bool {
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

async fn bad_pack_requests_are_refused_with_every_problem(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(6));
    let problem = app
        .post_json(
            "/browser-harness/packs",
            &json!({"datasetName": "demo", "target": "has spaces", "expiresInSeconds": 5, "selection": {"sampleSize": 0}}),
        )
        .await
        .problem(422);
    let fields = fields_of(&problem);
    assert_eq!(
        fields,
        ["target", "expiresInSeconds", "selection.sampleSize"]
    );
    // A number far past the range is refused like any other, not turned into a duration.
    let problem = app
        .post_json(
            "/browser-harness/packs",
            &json!({"datasetName": "demo", "target": "x", "expiresInSeconds": 9_300_000_000_000_000_u64}),
        )
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "expiresInSeconds");
    let problem = app
        .post_json(
            "/browser-harness/packs",
            &json!({"datasetName": "nope", "target": "bad target"}),
        )
        .await
        .problem(422);
    let fields = fields_of(&problem);
    assert_eq!(fields, ["target", "datasetName"], "both, at once");
    // The names there are are said with it: a case or a typo shows.
    assert_eq!(
        problem["errors"][1]["detail"],
        "no dataset is named `nope` (the datasets: demo)"
    );
    let problem = app
        .post_json(
            "/browser-harness/packs",
            &json!({"datasetName": "demo", "target": "bad target", "selection": {"categories": ["poetry"]}}),
        )
        .await
        .problem(422);
    let fields = fields_of(&problem);
    assert_eq!(fields, ["target", "selection.categories"], "both, at once");
    assert_eq!(
        problem["errors"][1]["detail"],
        "the dataset has no category `poetry`"
    );
    app.post_json(
        "/browser-harness/packs",
        &json!({"datasetName": "demo", "target": "x", "colour": "red"}),
    )
    .await
    .problem(400);
    app.post_json(
        "/browser-harness/packs",
        &json!({"datasetName": "demo", "target": "x", "selection": [1]}),
    )
    .await
    .problem(400);
}

async fn a_pack_too_large_to_come_back_is_refused(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    // Few items, but long ones (an upload takes questions of up to 64 KiB): 420 of them make a
    // pack of ~34 MB, more than an import takes.
    let long: Vec<_> = items(420)
        .into_iter()
        .map(|mut item| {
            item.question = format!("{} {}", item.question, "context ".repeat(7_800));
            item
        })
        .collect();
    import(&app.db, "long", &long);
    let problem = app
        .post_json(
            "/browser-harness/packs",
            &json!({"datasetName": "long", "target": "x"}),
        )
        .await
        .problem(422);
    assert_eq!(fields_of(&problem), ["selection"]);
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("selects 420 items whose prompts make an envelope of 3")
            && detail.ends_with(
                "with even a one-letter answer to each, its bundle would pass the 32 MiB an import takes (use sampleSize or categories)"
            ),
        "{detail}"
    );
    assert!(
        app.db.valid_pack_signers(now()).unwrap().is_empty(),
        "a refused pack is not recorded"
    );
    // Fewer of the same items make a pack that can come back.
    let envelope = create_pack(
        &app,
        json!({"datasetName": "long", "target": "x", "selection": {"sampleSize": 100}}),
    )
    .await;
    assert_eq!(payload(&envelope)["items"].as_array().unwrap().len(), 100);
}

async fn captures_import_as_a_judged_run_once(db: evalboard_persistence::testing::TestDatabase) {
    let app = app(db).await;
    let dataset = items(6);
    import(&app.db, "demo", &dataset);
    let envelope = create_pack(
        &app,
        json!({"datasetName": "demo", "target": "chatgpt-web"}),
    )
    .await;
    let key = |i: usize| dataset[i].answer.choice().unwrap().letter();
    let wrong = |i: usize| {
        AnswerKey::from_index((dataset[i].answer.choice().unwrap().index() + 1) % 4)
            .unwrap()
            .letter()
    };
    // Items 1, 2 right, 3 wrong, 4 unparsed; 5 and 6 not captured.
    let answers = [
        (1, answer(key(0))),
        (2, answer(key(1))),
        (3, answer(wrong(2))),
        (4, "I would rather not say.".to_owned()),
    ];
    let bundle = bundle(&envelope, &answers);
    let reply = import_bundle(&app, &bundle).await;
    let created = reply.ok(201);
    let run = &created["run"];
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/runs/{id}").as_str())
    );
    assert_eq!(run["providerName"], "Browser Harness");
    assert_eq!(run["modelName"], "chatgpt-web");
    assert_eq!(run["datasetName"], "demo");
    assert_eq!(run["status"], "completed");
    let progress = &created["progress"];
    assert_eq!(progress["total"], 6);
    assert_eq!(progress["correct"], 2);
    assert_eq!(progress["incorrect"], 2);
    assert_eq!(progress["faulted"], 2);
    assert_eq!(progress["completed"], 6);
    // A page reports no tokens: four answers without usage, not zero tokens.
    assert_eq!(created["usage"]["answersWithoutUsage"], 4);
    assert_eq!(created["usage"]["totalTokens"], 0);

    // Items as the drill-down shows them: judged answers, and the uncaptured ones failed.
    let detail = app.get(&format!("/runs/{id}/items?limit=50")).await.ok(200);
    let text = detail.to_string();
    assert!(text.contains("not captured"), "{text}");
    // Queued when its pack was handed out, before the harness played it (not at the import).
    let time = |text: &Value| chrono::DateTime::parse_from_rfc3339(text.as_str().unwrap()).unwrap();
    let issued = time(&payload(&envelope)["issuedAt"]);
    for item in detail["items"].as_array().unwrap() {
        assert_eq!(
            time(&item["timings"]["queuedAt"]),
            issued,
            "{}",
            item["timings"]
        );
    }
    assert!(text.contains("I would rather not say."));
    // Each captured answer's attempt keeps what the harness noted of its page; an uncaptured
    // item has no attempt.
    for item in detail["items"].as_array().unwrap() {
        let attempts = item["attempts"].as_array().unwrap();
        if item["state"] == "failed" {
            assert!(attempts.is_empty(), "{item}");
        } else {
            assert_eq!(
                attempts[0]["page"],
                json!({"url": "https://chat.example/c/42"}),
                "{item}"
            );
        }
    }
    let logs = app
        .get(&format!("/runs/{id}/logs?limit=200"))
        .await
        .ok(200)
        .to_string();
    let pack_id = payload(&envelope)["packId"].as_str().unwrap().to_owned();
    assert!(logs.contains(&pack_id), "{logs}");
    assert!(logs.contains(signing_key().id().as_str()), "{logs}");
    assert!(
        logs.contains("playwright-harness") && logs.contains("0.3.1"),
        "{logs}"
    );

    // The same bundle again — formatted differently — is the same run, not a second one.
    let runs = run_count(&app).await;
    let pretty = serde_json::to_vec_pretty(&bundle).unwrap();
    let again = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header(("content-type", "application/json"))
                .set_payload(pretty),
        )
        .await;
    assert_eq!(again.ok(200)["run"]["id"], id.as_str());
    assert_eq!(run_count(&app).await, runs);

    // Its answers came from a browser: a retry cannot produce new ones.
    app.post_json(&format!("/runs/{id}/retry"), &json!({}))
        .await
        .problem(409);
}

/// A run made from a pack's captures records which items the pack was cut from, as a run made
/// here does: runs of packs cut differently do not share a fingerprint, and comparing them says
/// their setups differ.
async fn a_run_of_captures_records_the_packs_selection(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(6));
    let mut runs = Vec::new();
    for selection in [
        json!({"sampleSize": 3}),
        json!({"sampleSize": 2, "seed": 9}),
    ] {
        let envelope = create_pack(
            &app,
            json!({"datasetName": "demo", "target": "chatgpt-web", "selection": selection}),
        )
        .await;
        let created = import_bundle(&app, &bundle(&envelope, &[(1, answer('A'))]))
            .await
            .ok(201);
        assert_eq!(created["settings"]["selection"], selection);
        assert_eq!(created["fingerprint"]["inputs"]["selection"], selection);
        runs.push(created);
    }
    assert_ne!(
        runs[0]["fingerprint"]["digest"],
        runs[1]["fingerprint"]["digest"]
    );
    let ids: Vec<&str> = runs
        .iter()
        .map(|r| r["run"]["id"].as_str().unwrap())
        .collect();
    let compared = app
        .get(&format!("/runs/compare?runIds={}", ids.join(",")))
        .await
        .ok(200);
    assert!(
        compared["warnings"].to_string().contains("selection"),
        "{}",
        compared["warnings"]
    );
}

async fn tampered_bundles_are_refused_and_write_nothing(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(4));
    let envelope = create_pack(&app, json!({"datasetName": "demo", "target": "t"})).await;
    let genuine = bundle(&envelope, &[(1, answer('A')), (2, answer('B'))]);
    let runs = run_count(&app).await;

    let refused = |problem: Value, pointer: &str, words: &str| {
        let errors = problem["errors"].as_array().unwrap().clone();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == pointer && e["detail"].as_str().unwrap().contains(words)),
            "{pointer} `{words}` not in {errors:?}"
        );
    };

    // A flipped payload byte.
    let mut flipped = genuine.clone();
    let mut bytes = BASE64
        .decode(genuine["envelope"]["payload"].as_str().unwrap())
        .unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    flipped["envelope"]["payload"] = json!(BASE64.encode(&bytes));
    let problem = import_bundle(&app, &flipped).await.problem(422);
    refused(problem, "/envelope/signatures/0/sig", "does not verify");

    // A signature from a key the server does not trust.
    let stranger = PackSigner::from_seed(&[0x33; 32]);
    let mut foreign = genuine.clone();
    let payload_bytes = BASE64
        .decode(genuine["envelope"]["payload"].as_str().unwrap())
        .unwrap();
    let signed = evalboard_harness::Envelope::sign(
        genuine["envelope"]["payloadType"].as_str().unwrap(),
        &payload_bytes,
        &stranger,
    );
    foreign["envelope"] = serde_json::to_value(&signed).unwrap();
    let problem = import_bundle(&app, &foreign).await.problem(422);
    refused(
        problem,
        "/envelope/signatures/0/keyid",
        "not the id of a key",
    );

    // A capture for an item not in the pack, a wrong prompt hash and a duplicate, all listed.
    let mut wrong = genuine.clone();
    let captures = wrong["captures"].as_array_mut().unwrap();
    captures[0]["sequence"] = json!(9);
    captures[1]["promptSha256"] = json!(prompt_sha256("another prompt"));
    let duplicate = captures[1].clone();
    captures.push(duplicate);
    let problem = import_bundle(&app, &wrong).await.problem(422);
    let errors = problem["errors"].as_array().unwrap().len();
    assert!(errors >= 3, "{problem}");
    refused(problem.clone(), "/captures/0/sequence", "no item 9");
    refused(problem.clone(), "/captures/1/promptSha256", "not the hash");
    refused(problem, "/captures/2/sequence", "captured already");

    // A key named twice: refused, not read as its last value (another harness, here).
    let text = genuine.to_string();
    let twice = format!(
        r#"{{"harness": {{"name": "x", "version": "1", "userAgent": "y"}}, {}"#,
        &text[1..]
    );
    let problem = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header(("content-type", "application/json"))
                .set_payload(twice),
        )
        .await
        .problem(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("duplicate field `harness`"),
        "{problem}"
    );

    assert_eq!(run_count(&app).await, runs, "nothing was written");
    // The genuine bundle still imports after all that.
    import_bundle(&app, &genuine).await.ok(201);
}

async fn a_pack_signed_by_a_retired_key_still_imports(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(3));
    // Issued before the rotation: signed by the key that is now retired, recorded by this server.
    let (envelope, _) = issue(
        &app,
        &retired_key(),
        Utc::now() - Duration::hours(1),
        Duration::days(1),
    );
    let reply = import_bundle(&app, &bundle(&envelope, &[(1, answer('A'))])).await;
    let run = reply.ok(201);
    assert_eq!(run["progress"]["faulted"], 2);
    // Compared, its items not captured are said to be so (a retry of such a run is refused).
    let other = app.create_run("demo", json!({})).await;
    let comparison = app
        .get(&format!(
            "/runs/compare?runIds={},{other}",
            run["run"]["id"].as_str().unwrap()
        ))
        .await
        .ok(200);
    let warnings = comparison["warnings"].to_string();
    assert!(
        warnings.contains("2 compared item(s) its captures did not answer")
            && !warnings.contains("a retry answers them"),
        "{warnings}"
    );
    // Another kind of provider: its Simulated settings differing too goes without saying.
    assert!(
        warnings.contains("the kind of provider (`providerKind`)")
            && !warnings.contains("`simulated`"),
        "{warnings}"
    );
    let logs = app
        .get(&format!(
            "/runs/{}/logs?limit=200",
            run["run"]["id"].as_str().unwrap()
        ))
        .await
        .ok(200)
        .to_string();
    assert!(logs.contains("(retired)"), "{logs}");
}

/// A pack issued before the template became `mmlu-pro-cot-v2` (its prompts lack the closing
/// `\n\n`) is still a pack this server signed: its captures import.
async fn a_pack_of_the_previous_prompt_template_still_imports(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(3));
    let (mut pack, dataset) = build_pack(&app, Utc::now() - Duration::hours(1), Duration::days(1));
    pack.prompt_template = "mmlu-pro-cot-v1".into();
    for item in &mut pack.items {
        let v1 = item.prompt_text.strip_suffix("\n\n").unwrap().to_owned();
        item.prompt_sha256 = prompt_sha256(&v1);
        item.prompt_text = v1;
    }
    record(&app, &pack, &signing_key(), &dataset);
    let envelope = serde_json::to_value(pack.sign(&signing_key())).unwrap();
    let run = import_bundle(
        &app,
        &bundle(&envelope, &[(1, answer('A')), (2, answer('C'))]),
    )
    .await
    .ok(201);
    assert_eq!(run["progress"]["completed"], 3);
    let id = run["run"]["id"].as_str().unwrap();
    let items = app
        .get(&format!("/runs/{id}/items?groupBy=none&limit=10"))
        .await
        .ok(200);
    let sent = items["items"][0]["renderedPrompt"].as_str().unwrap();
    assert!(
        sent.ends_with("Answer: Let's think step by step."),
        "{sent:?}"
    );
}

/// Issues a pack the way the server does, with `signer` and a chosen life (which may be over).
fn issue(
    app: &TestApp<app_bounds!()>,
    signer: &PackSigner,
    issued: chrono::DateTime<Utc>,
    life: Duration,
) -> (Value, PackPayload) {
    let (pack, dataset) = build_pack(app, issued, life);
    record(app, &pack, signer, &dataset);
    (serde_json::to_value(pack.sign(signer)).unwrap(), pack)
}

/// A pack of every item of dataset `demo`, as the server builds one, not yet recorded.
fn build_pack(
    app: &TestApp<app_bounds!()>,
    issued: chrono::DateTime<Utc>,
    life: Duration,
) -> (PackPayload, DatasetId) {
    let dataset = app.db.find_dataset("demo").unwrap().unwrap();
    let chosen = app.db.dataset_items(&dataset.id).unwrap();
    let pack = PackPayload::build(
        PackPayload::new_id(),
        issued,
        issued + life,
        PackDataset {
            name: "demo".into(),
            version: dataset.version,
            digest: dataset.digest.clone(),
        },
        "chatgpt-web".into(),
        &chosen,
    );
    (pack, dataset.id)
}

fn record(
    app: &TestApp<app_bounds!()>,
    pack: &PackPayload,
    signer: &PackSigner,
    dataset: &DatasetId,
) {
    app.db
        .record_pack(IssuedPack {
            id: &pack.pack_id,
            key_id: signer.id().as_str(),
            dataset_id: dataset,
            target: &pack.target,
            item_count: pack.items.len(),
            payload_sha256: &hex::encode(Sha256::digest(pack.to_bytes())),
            issued_at: pack.issued_at,
            expires_at: pack.expires_at,
            selection: &Default::default(),
        })
        .unwrap();
}

async fn an_expired_or_foreign_pack_does_not_import(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(3));
    let runs = run_count(&app).await;
    let (expired, _) = issue(
        &app,
        &signing_key(),
        Utc::now() - Duration::days(2),
        Duration::days(1),
    );
    // Captured while the pack was valid, imported after it expired.
    let mut late = bundle(&expired, &[(1, answer('A'))]);
    late["captures"][0]["startedAt"] = json!((Utc::now() - Duration::hours(36)).to_rfc3339());
    late["captures"][0]["finishedAt"] = json!((Utc::now() - Duration::hours(35)).to_rfc3339());
    late["captures"][0]["chunks"] = json!([]);
    let problem = import_bundle(&app, &late).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "/envelope");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Signed with the server's key, but never issued by it (or issued with other content).
    let dataset = app.db.find_dataset("demo").unwrap().unwrap();
    let chosen = app.db.dataset_items(&dataset.id).unwrap();
    let unrecorded = PackPayload::build(
        PackPayload::new_id(),
        Utc::now(),
        Utc::now() + Duration::days(1),
        PackDataset {
            name: "demo".into(),
            version: 1,
            digest: dataset.digest.clone(),
        },
        "chatgpt-web".into(),
        &chosen,
    );
    let envelope = serde_json::to_value(unrecorded.sign(&signing_key())).unwrap();
    let problem = import_bundle(&app, &bundle(&envelope, &[(1, answer('A'))]))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "/envelope");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not issued")
    );
    assert_eq!(run_count(&app).await, runs);
}

async fn oversized_and_malformed_bodies_are_refused(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    let huge = vec![b' '; 50 * 1024 * 1024];
    let problem = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header(("content-type", "application/json"))
                .set_payload(huge),
        )
        .await
        .problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("32 MiB"));
    // Within the size, denser than any bundle: refused before it is read (as JSON values, a
    // million `{"a":0}` would take about 700 MB).
    let tiny = vec![r#"{"a":0}"#; 1_000_000].join(",");
    let problem = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header(("content-type", "application/json"))
                .set_payload(format!(r#"{{"captures":[{tiny}]}}"#)),
        )
        .await
        .problem(413);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("too many JSON values for its size"),
        "{problem}"
    );
    app.call(
        TestRequest::post()
            .uri("/browser-harness/imports")
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"envelope\": "),
    )
    .await
    .problem(400);
    // Half of a character above U+FFFF (an emoji cut by slicing a JavaScript string): the
    // message says what to look for, besides where the parser stopped.
    let problem = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header(("content-type", "application/json"))
                .set_payload(r#"{"captures": [{"responseText": "X\ud83dY"}]}"#),
        )
        .await
        .problem(400);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the body is not JSON: ")
            && detail.contains(" at line 1 column ")
            && detail.ends_with("a character cut in two, as slicing a JavaScript string can leave one: send whole characters)"),
        "{detail}"
    );
    app.call(
        TestRequest::post()
            .uri("/browser-harness/imports")
            .insert_header(("content-type", "text/plain"))
            .set_payload("{}"),
    )
    .await
    .problem(415);
    let problem = app
        .post_json("/browser-harness/imports", &json!({"captures": "none"}))
        .await
        .problem(422);
    let fields = fields_of(&problem);
    assert_eq!(fields, ["/envelope", "/harness", "/captures"]);
}

async fn a_bundle_is_the_same_bundle_in_any_order_and_after_it_stops_verifying(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(3));
    let (envelope, _) = issue(
        &app,
        &retired_key(),
        Utc::now() - Duration::hours(1),
        Duration::days(1),
    );
    let bundle = bundle(&envelope, &[(1, answer('A')), (2, answer('B'))]);
    let run = import_bundle(&app, &bundle).await.ok(201)["run"]["id"].clone();
    let mut reordered = bundle.clone();
    reordered["captures"].as_array_mut().unwrap().reverse();
    assert_eq!(
        import_bundle(&app, &reordered).await.ok(200)["run"]["id"],
        run
    );

    // The retired key is dropped: the bundle no longer verifies, but a harness re-sending it
    // (it never saw the answer) still gets its run, and nothing new is written.
    let runs = run_count(&app).await;
    let state = evalboard_api::AppState::new((*app.db).clone(), crate::support::registry())
        .with_harness(evalboard_api::HarnessKeys::new(signing_key(), []));
    let strict = actix_web::test::init_service(evalboard_api::app(state)).await;
    let (status, body) = crate::support::bundle_reply(&strict, &bundle).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["id"], run);
    // Another bundle of that pack does not verify any more; the pack was signed here, so the
    // problem says what to fix (the key dropped, or another replica's), not only "unknown".
    let other =
        crate::support::bundle_reply(&strict, &self::bundle(&envelope, &[(3, answer('C'))])).await;
    assert_eq!(other.0, 422, "{}", other.1);
    let problem = other.1["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["field"] == "/envelope/signatures/0/keyid")
        .unwrap_or_else(|| panic!("{}", other.1));
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("a key this installation signed packs with"),
        "{problem}"
    );
    assert_eq!(run_count(&app).await, runs);
    // A key no pack of this installation was signed with is only unknown.
    let (foreign, _) = build_pack(&app, Utc::now(), Duration::days(1));
    let foreign = serde_json::to_value(foreign.sign(&PackSigner::from_seed(&[42; 32]))).unwrap();
    let (status, body) =
        crate::support::bundle_reply(&strict, &self::bundle(&foreign, &[(1, answer('A'))])).await;
    assert_eq!(status, 422, "{body}");
    let said = body.to_string();
    assert!(
        said.contains("is not the id of a key this server trusts"),
        "{said}"
    );
    assert!(!said.contains("this installation signed"), "{said}");

    // The key revoked on purpose (leaked, say): its packs' captures are refused as revoked, in
    // words for whoever sends them, and no start warns of its packs as of a key forgotten.
    let keys = evalboard_api::HarnessKeys::new(signing_key(), [])
        .with_revoked([retired_key().public_key()]);
    assert!(
        keys.untrusted_signers(&app.db, Utc::now())
            .unwrap()
            .is_empty(),
        "a revoked key's packs are no configuration mistake"
    );
    let state = evalboard_api::AppState::new((*app.db).clone(), crate::support::registry())
        .with_harness(keys);
    let revoking = actix_web::test::init_service(evalboard_api::app(state)).await;
    let (status, body) =
        crate::support::bundle_reply(&revoking, &self::bundle(&envelope, &[(3, answer('C'))]))
            .await;
    assert_eq!(status, 422, "{body}");
    let said = body.to_string();
    assert!(
        said.contains("a key this server revoked") && said.contains("ask for a new pack"),
        "{said}"
    );
    assert!(!said.contains("retired_public_keys"), "{said}");
    // A bundle imported before the revocation still gets its run.
    let (status, body) = crate::support::bundle_reply(&revoking, &bundle).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(run_count(&app).await, runs);
}

async fn an_envelope_not_as_issued_does_not_import(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(3));
    let envelope = create_pack(&app, json!({"datasetName": "demo", "target": "t"})).await;
    let genuine = bundle(&envelope, &[(1, answer('A'))]);
    let runs = run_count(&app).await;

    // A junk signature beside the genuine one.
    let mut padded = genuine.clone();
    padded["envelope"]["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"keyid": "junk", "sig": "junk"}));
    let problem = import_bundle(&app, &padded).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "/envelope/signatures");

    // The recorded pack, re-signed by another trusted key: not the key it was issued with.
    let payload = BASE64
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let resigned = evalboard_harness::Envelope::sign(
        envelope["payloadType"].as_str().unwrap(),
        &payload,
        &retired_key(),
    );
    let mut other_key = genuine.clone();
    other_key["envelope"] = serde_json::to_value(&resigned).unwrap();
    let problem = import_bundle(&app, &other_key).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "/envelope");
    assert!(problem["detail"].as_str().unwrap().contains("not issued"));

    // A NUL in an answer is a problem of the bundle, on both databases, not a server error.
    let mut nul = genuine.clone();
    nul["captures"][0]["responseText"] = json!("The answer is (A).\u{0}");
    nul["captures"][0]["chunks"] = json!([]);
    let problem = import_bundle(&app, &nul).await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "/captures/0/responseText");

    assert_eq!(run_count(&app).await, runs, "nothing was written");
    import_bundle(&app, &genuine).await.ok(201);
}

async fn the_same_bundle_sent_twice_at_once_makes_one_run(
    db: evalboard_persistence::testing::TestDatabase,
) {
    let app = app(db).await;
    import(&app.db, "demo", &items(40));
    let envelope = create_pack(&app, json!({"datasetName": "demo", "target": "t"})).await;
    let answers: Vec<(u32, String)> = (1..=40).map(|s| (s, answer('A'))).collect();
    let bundle = bundle(&envelope, &answers);
    let runs = run_count(&app).await;
    let (first, second) = tokio::join!(import_bundle(&app, &bundle), import_bundle(&app, &bundle));
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201]);
    assert_eq!(first.json()["run"]["id"], second.json()["run"]["id"]);
    assert_eq!(run_count(&app).await, runs + 1);
}
