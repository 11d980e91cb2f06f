//! Reading the outbox back as domain events, and pruning it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    ItemSnapshot, Lifecycle, RunChange, RunEvent, RunHeader, RunId, RunStatus, StateCounts,
    Timestamp,
};
use serde::Deserialize;

use crate::{
    database::Database,
    error::StoreError,
    schema::{dataset_items, run_event_horizon, run_events, run_items, runs},
};

/// Where the stored stream begins and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHorizon {
    /// Every event at or below this id was pruned (0: none ever was).
    pub pruned_through: u64,
    /// The newest event's id (at least `pruned_through`).
    pub last_id: u64,
}

impl EventHorizon {
    /// Whether a client that has seen every event up to `last_seen` can be brought up to date
    /// from what is stored: nothing after it was pruned, and it is not from the future (a
    /// different or restored database).
    pub fn can_resume_from(&self, last_seen: u64) -> bool {
        (self.pruned_through..=self.last_id).contains(&last_seen)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusPayload {
    status: String,
    previous_status: Option<String>,
    resumed_count: u32,
    last_resumed_at: Option<Timestamp>,
    cancel_requested_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct ProgressPayload {
    counts: std::collections::BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct ItemPayload {
    state: String,
}

type EventJoinRow = (
    (i64, String, String, Option<i32>, String, NaiveDateTime),
    (String, String, String),
    Option<(String, String)>,
);

impl Database {
    /// Events with an id above `after`, oldest first, at most `limit`; only those of `runs` when
    /// given. Each comes with what a board needs to show it (run names, item text).
    pub fn events_after(
        &self,
        after: u64,
        runs: Option<&[RunId]>,
        limit: u32,
    ) -> Result<Vec<RunEvent>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(|conn| {
            let mut query = run_events::table
                .inner_join(runs::table)
                .left_join(
                    run_items::table.on(run_items::run_id
                        .eq(run_events::run_id)
                        .and(run_items::sequence.nullable().eq(run_events::sequence))),
                )
                .left_join(
                    dataset_items::table.on(dataset_items::dataset_id
                        .nullable()
                        .eq(run_items::dataset_id.nullable())
                        .and(
                            dataset_items::position
                                .nullable()
                                .eq(run_items::dataset_position.nullable()),
                        )),
                )
                .filter(run_events::id.gt(after))
                .order(run_events::id.asc())
                .limit(i64::from(limit))
                .select((
                    (
                        run_events::id,
                        run_events::run_id,
                        run_events::kind,
                        run_events::sequence,
                        run_events::payload,
                        run_events::created_at,
                    ),
                    (runs::provider_name, runs::dataset_name, runs::model_name),
                    (dataset_items::question, dataset_items::choices).nullable(),
                ))
                .into_boxed();
            if let Some(runs) = runs {
                query = query.filter(run_events::run_id.eq_any(runs.iter().map(RunId::as_str)));
            }
            query
                .load::<EventJoinRow>(conn)?
                .into_iter()
                .map(to_domain)
                .collect()
        })
    }

    /// Where the stored stream begins and ends.
    pub fn event_horizon(&self) -> Result<EventHorizon, StoreError> {
        self.read(|conn| {
            let pruned: i64 = run_event_horizon::table
                .select(run_event_horizon::pruned_through)
                .first(conn)?;
            let last: Option<i64> = run_events::table
                .select(diesel::dsl::max(run_events::id))
                .first(conn)?;
            let pruned_through = u64::try_from(pruned).map_err(StoreError::corrupt)?;
            let last_id = u64::try_from(last.unwrap_or(0)).map_err(StoreError::corrupt)?;
            Ok(EventHorizon {
                pruned_through,
                last_id: last_id.max(pruned_through),
            })
        })
    }

    /// Deletes the events recorded before `cutoff` (and any older id), moving the horizon past
    /// them. Returns how many were deleted.
    pub fn prune_events(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        self.write(|conn| {
            let through: Option<i64> = run_events::table
                .filter(run_events::created_at.lt(cutoff.naive_utc()))
                .select(diesel::dsl::max(run_events::id))
                .first(conn)?;
            let Some(through) = through else {
                return Ok(0);
            };
            let deleted = diesel::delete(run_events::table.filter(run_events::id.le(through)))
                .execute(conn)?;
            diesel::update(
                run_event_horizon::table.filter(run_event_horizon::pruned_through.lt(through)),
            )
            .set(run_event_horizon::pruned_through.eq(through))
            .execute(conn)?;
            Ok(deleted as u64)
        })
    }
}

fn to_domain(
    ((id, run_id, kind, sequence, payload, created_at), (provider, dataset, model), item): EventJoinRow,
) -> Result<RunEvent, StoreError> {
    let corrupt = |what: &dyn std::fmt::Display| StoreError::corrupt(format!("event {id}: {what}"));
    let run_id = RunId::parse(&run_id).map_err(|e| corrupt(&e))?;
    let change = match kind.as_str() {
        "run_status" => {
            let p: StatusPayload = serde_json::from_str(&payload).map_err(|e| corrupt(&e))?;
            let status: RunStatus = p.status.parse().map_err(|e| corrupt(&e))?;
            let previous = p
                .previous_status
                .map(|s| s.parse::<RunStatus>())
                .transpose()
                .map_err(|e| corrupt(&e))?;
            RunChange::Status {
                run: RunHeader {
                    id: run_id.clone(),
                    provider_name: provider,
                    dataset_name: dataset,
                    model_name: model,
                    status,
                },
                previous,
                lifecycle: Lifecycle {
                    resumed_count: p.resumed_count,
                    last_resumed_at: p.last_resumed_at,
                    cancel_requested_at: p.cancel_requested_at,
                },
            }
        }
        "run_progress" => {
            let p: ProgressPayload = serde_json::from_str(&payload).map_err(|e| corrupt(&e))?;
            let mut counts = StateCounts::default();
            for (state, count) in p.counts {
                let state: evalboard_domain::ItemState = state.parse().map_err(|e| corrupt(&e))?;
                counts.add(state, count);
            }
            RunChange::Progress(counts)
        }
        "run_item" => {
            let p: ItemPayload = serde_json::from_str(&payload).map_err(|e| corrupt(&e))?;
            let sequence = sequence.ok_or_else(|| corrupt(&"a run_item event without its item"))?;
            let (question, choices) =
                item.ok_or_else(|| corrupt(&format!("item {sequence} of the run is missing")))?;
            RunChange::Item(ItemSnapshot {
                sequence: u32::try_from(sequence).map_err(|e| corrupt(&e))?,
                state: p.state.parse().map_err(|e| corrupt(&e))?,
                prompt_text: question,
                choices: serde_json::from_str(&choices).map_err(|e| corrupt(&e))?,
            })
        }
        other => return Err(corrupt(&format!("unknown kind `{other}`"))),
    };
    Ok(RunEvent {
        id: u64::try_from(id).map_err(|e| corrupt(&e))?,
        run_id,
        at: created_at.and_utc(),
        change,
    })
}
