//! Runs made from Browser Harness captures: every item of the pack at once, captured ones
//! answered and judged, the others failed as not captured — one transaction, so an import is
//! all there or not at all.

use std::collections::HashMap;

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    DatasetItem, ItemState, Run, RunId, RunSettings, RunStatus, RunUsage, StateCounts, Timestamp,
    TokenUsage,
};

use super::{
    CreatedRun, Judgment, RunRow,
    attempts::{self, AttemptOutcome, EndedAttempt},
    bookkeeping::{change_status, finish_if_done, save_counts_recounting_answers},
    create::{ProviderIdentity, RunOrigin, new_run_row},
    load_row,
    outcomes::{insert_judgments, judgment_row},
};
use crate::{
    connection::{DbConnection, on_backend},
    database::Database,
    datasets::{DatasetItemRow, DatasetRow},
    error::StoreError,
    events,
    harness::PackRow,
    logs::{self, LogLevel, PendingLog},
    schema::{dataset_items, datasets, harness_imports, harness_packs, run_items, runs},
};

/// The worker name attempts of imported items are recorded under.
const HARNESS_WORKER: &str = "browser-harness";
/// The provider kind in the fingerprint of imported runs.
const BROWSER_HARNESS_KIND: &str = "browser-harness";
/// Item rows per multi-row INSERT (about 20 columns each: well under the bind-parameter limits).
const INSERT_CHUNK: usize = 1_000;

/// A verified bundle, ready to become a run.
pub struct CaptureImport<'a> {
    /// The bundle's digest: the same bundle imported again returns the run it made.
    pub bundle_digest: &'a str,
    /// The pack the captures answer.
    pub pack_id: &'a str,
    /// The id of the key whose signature verified: the one the pack was issued with.
    pub key_id: &'a str,
    /// SHA-256 (hex) of the pack's signed payload bytes, which must be the issued pack's.
    pub payload_sha256: &'a str,
    /// The run's provider (the Browser Harness).
    pub provider_name: &'a str,
    /// The run's model: the pack's target.
    pub model_name: &'a str,
    /// What the run records as its settings.
    pub settings: &'a RunSettings,
    /// The template the pack's prompts were rendered with.
    pub prompt_template: &'a str,
    /// Every item of the pack, in sequence order (sequence = position + 1).
    pub items: &'a [ImportItem<'a>],
    /// Log lines recorded with the run (pack, key, harness).
    pub notes: &'a [String],
    /// How an answer is judged.
    pub judge: &'a (dyn Fn(&DatasetItem, &str, Timestamp) -> Judgment + Sync),
    /// The token that asked for it, for the run log (`None`: a server that needs no token).
    pub requested_by: Option<&'a str>,
    /// Now.
    pub at: Timestamp,
}

/// One item of the pack, with what the harness captured of it, if anything.
pub struct ImportItem<'a> {
    /// The dataset item's id.
    pub dataset_item_id: &'a str,
    /// The prompt the harness sent.
    pub prompt: &'a str,
    /// The page's answer, when it was captured.
    pub capture: Option<CapturedAnswer<'a>>,
}

/// What the page answered.
pub struct CapturedAnswer<'a> {
    /// The whole answer.
    pub response_text: &'a str,
    /// When the prompt was sent.
    pub started_at: Timestamp,
    /// When the first streamed chunk appeared, if the harness saw it stream.
    pub first_token_at: Option<Timestamp>,
    /// When the answer was complete.
    pub answered_at: Timestamp,
    /// What the harness noted of the page (url, title, ...); empty when nothing.
    pub page: &'a BTreeMap<String, String>,
}

#[derive(Insertable)]
#[diesel(table_name = run_items, treat_none_as_default_value = false)]
struct ImportedItemRow<'a> {
    run_id: &'a str,
    sequence: i32,
    dataset_id: &'a str,
    dataset_position: i32,
    state: &'static str,
    attempt_count: i32,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    prompt_text: Option<&'a str>,
    response_text: Option<&'a str>,
    extracted_answer: Option<String>,
    extraction_tier: Option<&'static str>,
    judge: Option<String>,
    error_kind: Option<&'static str>,
    error_message: Option<&'static str>,
    queued_at: Option<NaiveDateTime>,
    first_token_at: Option<NaiveDateTime>,
    answered_at: Option<NaiveDateTime>,
    judged_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = harness_imports)]
struct NewImportRow<'a> {
    bundle_digest: &'a str,
    pack_id: &'a str,
    run_id: &'a str,
    created_at: NaiveDateTime,
}

impl Database {
    /// Makes a completed run of the pack's items from a verified bundle: captured items judged
    /// (`correct` or `incorrect`, with their attempt and verdict), the others `failed` as not
    /// captured. A bundle imported before returns the run it made (`replayed`). Nothing is
    /// written when the pack was not issued here, or was issued with other content
    /// ([`StoreError::Invalid`]).
    pub fn import_captures(&self, import: CaptureImport<'_>) -> Result<CreatedRun, StoreError> {
        self.write_or_replay(
            |conn| import_in(conn, &import),
            |conn| replay(conn, import.bundle_digest),
            "concurrent import of one bundle",
        )
    }
}

impl Database {
    /// The run a bundle with this digest was imported as, if it was.
    pub fn imported_run(&self, bundle_digest: &str) -> Result<Option<Run>, StoreError> {
        self.read(|conn| Ok(replay(conn, bundle_digest)?.map(|created| created.run)))
    }
}

fn replay(conn: &mut DbConnection, digest: &str) -> Result<Option<CreatedRun>, StoreError> {
    let run_id: Option<String> = harness_imports::table
        .find(digest)
        .select(harness_imports::run_id)
        .first(conn)
        .optional()?;
    let Some(run_id) = run_id else {
        return Ok(None);
    };
    let run_id = RunId::parse(&run_id).map_err(StoreError::corrupt)?;
    Ok(Some(CreatedRun {
        run: load_row(conn, &run_id, false)?.into_domain()?,
        replayed: true,
    }))
}

fn import_in(
    conn: &mut DbConnection,
    import: &CaptureImport<'_>,
) -> Result<CreatedRun, StoreError> {
    if let Some(existing) = replay(conn, import.bundle_digest)? {
        return Ok(existing);
    }
    let pack: Option<PackRow> = harness_packs::table
        .find(import.pack_id)
        .select(PackRow::as_select())
        .first(conn)
        .optional()?;
    let pack = pack
        .filter(|pack| pack.payload_sha256 == import.payload_sha256 && pack.key_id == import.key_id)
        .ok_or_else(|| {
            StoreError::invalid(
                "/envelope",
                format!(
                    "pack `{}` was not issued by this server (or not with this content and key)",
                    import.pack_id
                ),
            )
        })?;
    // The run records which items the pack was cut from, as a run made here does.
    let mut settings = import.settings.clone();
    if let Some(selection) = pack.selection()? {
        settings.selection = selection;
    }
    let dataset: DatasetRow = datasets::table
        .find(&pack.dataset_id)
        .select(DatasetRow::as_select())
        .first(conn)?;
    let stored: Vec<(i32, DatasetItemRow)> = dataset_items::table
        .filter(dataset_items::dataset_id.eq(&dataset.id))
        .select((dataset_items::position, DatasetItemRow::as_select()))
        .load(conn)?;
    let mut by_id: HashMap<String, (i32, DatasetItemRow)> = stored
        .into_iter()
        .map(|(position, row)| (row.item_id.clone(), (position, row)))
        .collect();

    let id = RunId::generate();
    let at = import.at;
    let now = at.naive_utc();
    let row: RunRow = new_run_row(
        &id,
        RunOrigin {
            provider_name: import.provider_name,
            model_name: import.model_name,
            dataset_name: &dataset.name,
            dataset: &dataset,
            settings: &settings,
            prompt_template: import.prompt_template,
            provider: Some(ProviderIdentity {
                kind: BROWSER_HARNESS_KIND,
                base_url: None,
            }),
        },
        import.items.len(),
        at,
    )?;
    diesel::insert_into(crate::schema::runs::table)
        .values(&row)
        .execute(conn)?;
    logs::append(
        conn,
        &id,
        None,
        LogLevel::Info,
        &format!(
            "run created from Browser Harness captures{}: {} item(s) of dataset `{}` version {} ({}) for model `{}`",
            logs::requested_by(import.requested_by),
            import.items.len(),
            dataset.name,
            dataset.version,
            dataset.digest,
            import.model_name,
        ),
        at,
    )?;
    events::status(conn, &id, None, at)?;
    change_status(conn, &row, RunStatus::Running, at, None)?;

    let mut counts = StateCounts::default();
    let mut usage = RunUsage::default();
    let mut rows = Vec::with_capacity(import.items.len());
    let mut attempts = Vec::new();
    let mut judgments = Vec::new();
    let mut log: Vec<PendingLog> = import
        .notes
        .iter()
        .map(|note| PendingLog {
            sequence: None,
            level: LogLevel::Info,
            message: note.clone(),
        })
        .collect();
    for (index, item) in import.items.iter().enumerate() {
        let sequence = index as i32 + 1;
        let (position, dataset_item) = by_id.remove(item.dataset_item_id).ok_or_else(|| {
            StoreError::invalid(
                "/envelope/payload",
                format!(
                    "item {sequence} names `{}`, which the pack's dataset does not have (or names twice)",
                    item.dataset_item_id
                ),
            )
        })?;
        let mut item_row = ImportedItemRow {
            run_id: &row.id,
            sequence,
            dataset_id: &dataset.id,
            dataset_position: position,
            state: ItemState::Failed.as_str(),
            attempt_count: 0,
            started_at: None,
            finished_at: Some(now),
            updated_at: now,
            prompt_text: Some(item.prompt),
            response_text: None,
            extracted_answer: None,
            extraction_tier: None,
            judge: None,
            error_kind: Some("not_captured"),
            error_message: Some("not captured"),
            // Handed out with its pack: before the harness played it.
            queued_at: Some(pack.issued_at),
            first_token_at: None,
            answered_at: None,
            judged_at: None,
        };
        match &item.capture {
            None => {
                counts.add(ItemState::Failed, 1);
                log.push(PendingLog {
                    sequence: Some(sequence as u32),
                    level: LogLevel::Warn,
                    message: "failed: not captured".into(),
                });
            }
            Some(capture) => {
                let judgment =
                    (import.judge)(&dataset_item.into_domain()?, capture.response_text, at);
                let state = judgment.verdict.state();
                counts.add(state, 1);
                // A page reports no tokens: said as such, not as zero tokens.
                usage.add(&TokenUsage::default(), None);
                item_row.state = state.as_str();
                item_row.attempt_count = 1;
                item_row.started_at = Some(capture.started_at.naive_utc());
                // A capture may start within the clock skew allowed before its pack's issue.
                item_row.queued_at = item_row.queued_at.min(item_row.started_at);
                item_row.response_text = Some(capture.response_text);
                item_row.extracted_answer = judgment.extraction.answer.clone();
                item_row.extraction_tier = Some(judgment.extraction.tier.as_str());
                item_row.judge = Some(judgment.judge.clone());
                item_row.error_kind = None;
                item_row.error_message = None;
                item_row.first_token_at = capture.first_token_at.map(|t| t.naive_utc());
                item_row.answered_at = Some(capture.answered_at.naive_utc());
                item_row.judged_at = Some(judgment.at.naive_utc());
                attempts.push(EndedAttempt {
                    run_id: id.to_string(),
                    sequence,
                    attempt: 1,
                    outcome: Some(AttemptOutcome::Answered.as_str()),
                    error_kind: None,
                    error_message: None,
                    worker: Some(HARNESS_WORKER.to_owned()),
                    started_at: capture.started_at.naive_utc(),
                    finished_at: Some(capture.answered_at.naive_utc()),
                    first_token_at: capture.first_token_at.map(|t| t.naive_utc()),
                    prompt_tokens: None,
                    completion_tokens: None,
                    reasoning_tokens: None,
                    cost_usd: None,
                    // Kept as the harness noted it (url, title, ...): which page gave the answer.
                    page: (!capture.page.is_empty())
                        .then(|| serde_json::to_string(capture.page).expect("strings serialize")),
                });
                judgments.push(judgment_row(&id, sequence, 1, &judgment, 0));
            }
        }
        rows.push(item_row);
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        on_backend!(conn, |c| diesel::insert_into(run_items::table)
            .values(chunk)
            .execute(c))?;
    }
    attempts::insert(conn, &attempts)?;
    insert_judgments(conn, &judgments)?;
    logs::append_many(conn, &id, &log, at)?;
    save_counts_recounting_answers(conn, &id, &counts, at)?;
    diesel::update(runs::table.find(id.as_str()))
        .set(runs::usage.eq(Some(
            serde_json::to_string(&usage).map_err(StoreError::corrupt)?,
        )))
        .execute(conn)?;
    events::latest_finished(conn, &id, at)?;
    finish_if_done(conn, &id, at)?;
    diesel::insert_into(harness_imports::table)
        .values(NewImportRow {
            bundle_digest: import.bundle_digest,
            pack_id: &pack.id,
            run_id: id.as_str(),
            created_at: now,
        })
        .execute(conn)?;
    Ok(CreatedRun {
        run: load_row(conn, &id, false)?.into_domain()?,
        replayed: false,
    })
}
