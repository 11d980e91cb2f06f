//! Reading the outbox back as domain events, and pruning it.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    sql_types::{BigInt, Bool},
};
use evalboard_domain::{
    EventPosition, ItemSnapshot, Lifecycle, RunChange, RunEvent, RunHeader, RunId, RunStatus,
    StateCounts, Timestamp,
};
use serde::Deserialize;

use crate::{
    commit_order::oldest_running_tx,
    connection::DbConnection,
    database::Database,
    error::StoreError,
    schema::{dataset_items, run_event_horizon, run_events, run_items, runs},
};

/// Where the stored stream begins and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHorizon {
    /// Every event at or before this position was pruned (the default: none ever was).
    pub pruned_through: EventPosition,
    /// The last event readers may deliver (at least `pruned_through`): on PostgreSQL, events
    /// after it may be committed already but wait for an earlier transaction to end.
    pub last: EventPosition,
}

/// Where a client that last received an event id goes on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// After this position.
    At(EventPosition),
    /// The events after it were pruned.
    Pruned,
    /// Not an id this database issued (another or a restored database, say).
    Unknown,
}

/// `(columns) OP (tx, id)`: a comparison of positions in the stream's order, as a row value.
/// PostgreSQL seeks it in the `(tx, id)` index; SQLite seeks it on `tx` alone (see
/// [`events_in_order`]).
macro_rules! compare_position {
    ($columns:literal $op:literal ($tx:expr, $id:expr)) => {
        diesel::dsl::sql::<Bool>(concat!("(", $columns, ") ", $op, " ("))
            .bind::<BigInt, _>($tx)
            .sql(", ")
            .bind::<BigInt, _>($id)
            .sql(")")
    };
}

/// Events in the stream's order, as a page is read (macros, here and below, so that the plan
/// tests explain the very queries). The runs' names and the items' text are looked up apart,
/// by primary key: joined in one statement, a planner without statistics hashes every item of
/// every run for each page.
///
/// The events after a position `(tx, id)`: on PostgreSQL one seek of the `(tx, id)` index
/// ([`after_position`]). SQLite seeks that row-value comparison on `tx` alone and reads every
/// event of the transaction from its first — on SQLite, where every event has `tx` 0, every
/// event stored, at each read — so there they are read as two seeks: the rest of transaction
/// `tx` ([`rest_of_transaction`]), then later transactions ([`later_transactions`]).
macro_rules! events_in_order {
    ($filter:expr) => {
        run_events::table
            .filter($filter)
            .order((run_events::tx.asc(), run_events::id.asc()))
            .select((
                run_events::tx,
                run_events::id,
                run_events::run_id,
                run_events::kind,
                run_events::sequence,
                run_events::payload,
                run_events::created_at,
            ))
    };
}

/// The events after the position `($tx, $id)` (PostgreSQL).
macro_rules! after_position {
    ($tx:expr, $id:expr) => {
        events_in_order!(compare_position!("run_events.tx, run_events.id" ">" ($tx, $id)))
    };
}

/// The events of transaction `$tx` after the event `$id`.
macro_rules! rest_of_transaction {
    ($tx:expr, $id:expr) => {
        events_in_order!(run_events::tx.eq($tx).and(run_events::id.gt($id)))
    };
}

/// The events of transactions after `$tx`.
macro_rules! later_transactions {
    ($tx:expr) => {
        events_in_order!(run_events::tx.gt($tx))
    };
}

/// The question and choices of the items `$sequences` of the run `$run`.
macro_rules! item_texts {
    ($run:expr, $sequences:expr) => {
        run_items::table
            .inner_join(
                dataset_items::table.on(dataset_items::dataset_id
                    .eq(run_items::dataset_id)
                    .and(dataset_items::position.eq(run_items::dataset_position))),
            )
            .filter(crate::runs::item_keys::items_of_run($run, $sequences))
            .select((
                run_items::sequence,
                dataset_items::question,
                dataset_items::choices,
            ))
    };
}

/// On PostgreSQL, the events a reader may deliver: those of transactions older than the oldest
/// one still running. Every transaction that could still commit an event has an id at or above
/// it, so nothing read in order below it is ever preceded by a later commit.
const SETTLED: &str = concat!("run_events.tx < ", oldest_running_tx!());

/// Whether any stored event is not [`SETTLED`] yet: the newest transaction id among the events
/// is at or above the oldest one still running. Asked as a `max` rather than `EXISTS (… WHERE
/// tx >= …)`: the newest id is one backward step of the `(tx, id)` index whatever the
/// statistics, where a never-analyzed table had the `EXISTS` read every event (7 ms per pump
/// read at 40,000 events, growing with the table).
const ANY_UNSETTLED: &str = concat!(
    "COALESCE((SELECT max(run_events.tx) FROM run_events) >= ",
    oldest_running_tx!(),
    ", false)"
);

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(StoreError::corrupt)
}

fn position(tx: i64, id: i64) -> Result<EventPosition, StoreError> {
    Ok(EventPosition {
        commit: u64::try_from(tx).map_err(StoreError::corrupt)?,
        id: u64::try_from(id).map_err(StoreError::corrupt)?,
    })
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

type EventRow = (i64, i64, String, String, Option<i32>, String, NaiveDateTime);

/// What a page of events needs besides its rows: its runs' names and its items' text.
struct EventContext {
    /// Provider, dataset and model of each run.
    names: HashMap<String, (String, String, String)>,
    /// Question and choices (JSON) of each item, by run and sequence.
    texts: HashMap<(String, i32), (String, String)>,
}

impl EventContext {
    fn of(conn: &mut DbConnection, rows: &[EventRow]) -> Result<Self, StoreError> {
        let mut sequences: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (_, _, run, _, sequence, _, _) in rows {
            let of_run = sequences.entry(run.as_str()).or_default();
            of_run.extend(*sequence);
        }
        let names = runs::table
            .filter(runs::id.eq_any(sequences.keys().copied()))
            .select((
                runs::id,
                (runs::provider_name, runs::dataset_name, runs::model_name),
            ))
            .load::<(String, (String, String, String))>(conn)?
            .into_iter()
            .collect();
        let mut texts = HashMap::new();
        for (run, mut of_run) in sequences {
            if of_run.is_empty() {
                continue;
            }
            of_run.sort_unstable();
            of_run.dedup();
            let run_id = RunId::parse(run).map_err(StoreError::corrupt)?;
            let found = item_texts!(&run_id, &of_run).load::<(i32, String, String)>(conn)?;
            texts.extend(found.into_iter().map(|(sequence, question, choices)| {
                ((run.to_owned(), sequence), (question, choices))
            }));
        }
        Ok(Self { names, texts })
    }
}

impl Database {
    /// The events after `after` in the stream's order that readers may deliver (see
    /// [`EventHorizon::last`]), at most `limit`; only those of `runs` when given. Each comes with
    /// what a board needs to show it (run names, item text).
    pub fn events_after(
        &self,
        after: EventPosition,
        runs: Option<&[RunId]>,
        limit: u32,
    ) -> Result<Vec<RunEvent>, StoreError> {
        self.read(|conn| {
            let (tx, id) = (to_i64(after.commit)?, to_i64(after.id)?);
            let postgres = matches!(conn, DbConnection::Postgres(_));
            let pages = if postgres {
                vec![after_position!(tx, id).into_boxed()]
            } else {
                vec![
                    rest_of_transaction!(tx, id).into_boxed(),
                    later_transactions!(tx).into_boxed(),
                ]
            };
            let mut rows: Vec<EventRow> = Vec::new();
            for mut page in pages {
                let room = i64::from(limit) - rows.len() as i64;
                if room <= 0 {
                    break;
                }
                page = page.limit(room);
                if let Some(runs) = runs {
                    page = page.filter(run_events::run_id.eq_any(runs.iter().map(RunId::as_str)));
                }
                if postgres {
                    page = page.filter(diesel::dsl::sql::<Bool>(SETTLED));
                }
                rows.extend(page.load::<EventRow>(conn)?);
            }
            let context = EventContext::of(conn, &rows)?;
            rows.into_iter()
                .map(|row| to_domain(row, &context))
                .collect()
        })
    }

    /// Where the stored stream begins and ends.
    pub fn event_horizon(&self) -> Result<EventHorizon, StoreError> {
        self.read(|conn| {
            let pruned_through = pruned_through(conn)?;
            let mut last = run_events::table
                .select((run_events::tx, run_events::id))
                .order((run_events::tx.desc(), run_events::id.desc()))
                .limit(1)
                .into_boxed();
            if matches!(conn, DbConnection::Postgres(_)) {
                last = last.filter(diesel::dsl::sql::<Bool>(SETTLED));
            }
            let last = match last.first::<(i64, i64)>(conn).optional()? {
                Some((tx, id)) => position(tx, id)?,
                None => EventPosition::default(),
            };
            Ok(EventHorizon {
                pruned_through,
                last: last.max(pruned_through),
            })
        })
    }

    /// Whether committed events wait for an earlier transaction to end before readers may
    /// deliver them (PostgreSQL; never on SQLite). A transaction without events does not
    /// announce its end, so a reader that sees some looks again soon.
    pub fn events_wait_to_settle(&self) -> Result<bool, StoreError> {
        self.read(|conn| match conn {
            DbConnection::Postgres(pg) => {
                Ok(diesel::select(diesel::dsl::sql::<Bool>(ANY_UNSETTLED)).get_result(pg)?)
            }
            DbConnection::Sqlite(_) => Ok(false),
        })
    }

    /// Where a client that last received the event `id` goes on from.
    pub fn resume_from(&self, id: u64) -> Result<Resume, StoreError> {
        let id = to_i64(id).unwrap_or(i64::MAX);
        self.read(|conn| {
            let pruned = pruned_through(conn)?;
            let found: Option<i64> = run_events::table
                .find(id)
                .select(run_events::tx)
                .first(conn)
                .optional()?;
            if let Some(tx) = found {
                return Ok(Resume::At(position(tx, id)?));
            }
            if id == to_i64(pruned.id)? {
                return Ok(Resume::At(pruned));
            }
            let newest: Option<i64> = run_events::table
                .select(diesel::dsl::max(run_events::id))
                .first(conn)?;
            let issued = newest.unwrap_or(0).max(to_i64(pruned.id)?);
            Ok(if pruned != EventPosition::default() && id <= issued {
                Resume::Pruned
            } else {
                Resume::Unknown
            })
        })
    }

    /// Deletes the events recorded before `cutoff` (and any older id), moving the horizon past
    /// them. Returns how many were deleted.
    pub fn prune_events(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        self.write(|conn| {
            let mut through = run_events::table
                .filter(run_events::created_at.lt(cutoff.naive_utc()))
                .select((run_events::tx, run_events::id))
                .order((run_events::tx.desc(), run_events::id.desc()))
                .limit(1)
                .into_boxed();
            if matches!(conn, DbConnection::Postgres(_)) {
                through = through.filter(diesel::dsl::sql::<Bool>(SETTLED));
            }
            let Some((tx, id)) = through.first::<(i64, i64)>(conn).optional()? else {
                return Ok(0);
            };
            // Earlier transactions, then the rest: each a seek of the `(tx, id)` index (see
            // `events_in_order!`).
            let deleted = diesel::delete(run_events::table.filter(run_events::tx.lt(tx)))
                .execute(conn)?
                + diesel::delete(
                    run_events::table.filter(run_events::tx.eq(tx).and(run_events::id.le(id))),
                )
                .execute(conn)?;
            // Replicas prune too: the horizon only moves forward.
            diesel::update(run_event_horizon::table.filter(compare_position!(
                "run_event_horizon.pruned_tx, run_event_horizon.pruned_through" "<" (tx, id)
            )))
            .set((
                run_event_horizon::pruned_tx.eq(tx),
                run_event_horizon::pruned_through.eq(id),
            ))
            .execute(conn)?;
            Ok(deleted as u64)
        })
    }
}

/// The position pruning reached.
fn pruned_through(conn: &mut DbConnection) -> Result<EventPosition, StoreError> {
    let (tx, id) = run_event_horizon::table
        .select((
            run_event_horizon::pruned_tx,
            run_event_horizon::pruned_through,
        ))
        .first::<(i64, i64)>(conn)?;
    position(tx, id)
}

fn to_domain(
    (tx, id, run, kind, sequence, payload, created_at): EventRow,
    context: &EventContext,
) -> Result<RunEvent, StoreError> {
    let corrupt = |what: &dyn std::fmt::Display| StoreError::corrupt(format!("event {id}: {what}"));
    let run_id = RunId::parse(&run).map_err(|e| corrupt(&e))?;
    let change = match kind.as_str() {
        "run_status" => {
            let p: StatusPayload = serde_json::from_str(&payload).map_err(|e| corrupt(&e))?;
            let status: RunStatus = p.status.parse().map_err(|e| corrupt(&e))?;
            let previous = p
                .previous_status
                .map(|s| s.parse::<RunStatus>())
                .transpose()
                .map_err(|e| corrupt(&e))?;
            let (provider, dataset, model) = context
                .names
                .get(&run)
                .cloned()
                .ok_or_else(|| corrupt(&"its run is missing"))?;
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
            let (question, choices) = context
                .texts
                .get(&(run.clone(), sequence))
                .cloned()
                .ok_or_else(|| corrupt(&format!("item {sequence} of the run is missing")))?;
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
        position: position(tx, id)?,
        run_id,
        at: created_at.and_utc(),
        change,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};

    use evalboard_domain::{AnswerKey, DatasetItem, DatasetName, RunSettings};

    use super::*;
    use crate::{DatasetImport, NewRun, PoolOptions, testing::TestDatabase};

    fn import(db: &Database) {
        let items = [DatasetItem {
            id: "q1".into(),
            category: "math".into(),
            question: "1 + 1?".into(),
            choices: vec!["2".into(), "3".into()],
            answer: AnswerKey::from_letter("A").unwrap().into(),
            explanation: None,
            source: None,
        }];
        db.import_dataset(DatasetImport {
            name: &DatasetName::parse("tiny").unwrap(),
            items: &items,
            at: chrono::Utc::now(),
        })
        .unwrap();
    }

    /// Creates a run: one transaction that commits events.
    fn create_run(db: &Database) {
        db.create_run(NewRun {
            provider_name: "Simulated",
            provider: None,
            model_name: "sim-1",
            dataset_name: "tiny",
            dataset_version: None,
            settings: &RunSettings::default(),
            idempotency: None,
            requested_by: None,
            at: chrono::Utc::now(),
        })
        .unwrap();
    }

    fn ids(events: &[RunEvent]) -> Vec<u64> {
        events.iter().map(RunEvent::id).collect()
    }

    /// A transaction that wrote an event and has not committed holds back the events committed
    /// after it began writing; once it commits, a reader gets its event and theirs, each once.
    #[test]
    fn events_wait_for_an_earlier_transaction_and_none_is_skipped() {
        let Some(db) = TestDatabase::postgres() else {
            return;
        };
        import(&db);
        create_run(&db);
        // Other tests' transactions on the same cluster hold events back too, for a moment.
        db.wait_for_events_to_settle();
        let start = db.event_horizon().unwrap().last;
        assert_eq!(ids(&db.events_after(start, None, 100).unwrap()), [0u64; 0]);

        let (wrote, written) = mpsc::channel();
        let (finish, finished) = mpsc::channel::<()>();
        let url = db.url().to_owned();
        let holder = std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let id: i64 = diesel::sql_query(
                    "INSERT INTO run_events (run_id, kind, sequence, payload, created_at) \
                     SELECT run_id, kind, sequence, payload, created_at FROM run_events \
                     ORDER BY id LIMIT 1 RETURNING id",
                )
                .get_result::<Inserted>(conn)?
                .id;
                wrote.send(id).unwrap();
                finished.recv().unwrap();
                Ok(())
            })
            .unwrap();
        });
        let held = written.recv().unwrap() as u64;

        // Another writer commits events after it: none may be read yet, or a reader that went
        // past them would never see the held one.
        create_run(&db);
        assert!(db.events_wait_to_settle().unwrap());
        assert_eq!(ids(&db.events_after(start, None, 100).unwrap()), [0u64; 0]);
        assert_eq!(db.event_horizon().unwrap().last, start);

        finish.send(()).unwrap();
        holder.join().unwrap();
        db.wait_for_events_to_settle();
        let read = ids(&db.events_after(start, None, 100).unwrap());
        assert_eq!(
            read.len(),
            3,
            "the held event and the other run's two: {read:?}"
        );
        assert_eq!(read[0], held, "the earlier transaction's event first");
        assert!(read[1..].iter().all(|&id| id > held));
        assert_eq!(db.event_horizon().unwrap().last.id, read[2]);
    }

    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }

    /// Writers on their own connections commit events concurrently while a reader follows the
    /// stream page by page: it receives every event, once.
    #[test]
    fn concurrent_writers_lose_and_repeat_no_event() {
        let Some(db) = TestDatabase::postgres() else {
            return;
        };
        import(&db);
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let own = Database::connect(db.url(), &PoolOptions::default()).unwrap();
                std::thread::spawn(move || {
                    for _ in 0..40 {
                        create_run(&own);
                    }
                })
            })
            .collect();
        let reader = {
            let db = Arc::new((*db).clone());
            std::thread::spawn(move || {
                let mut received = Vec::new();
                let mut cursor = EventPosition::default();
                // Until every run's two events arrived (or, should some be skipped, for 20 s).
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                while received.len() < 4 * 40 * 2 && std::time::Instant::now() < deadline {
                    let page = db.events_after(cursor, None, 7).unwrap();
                    if let Some(last) = page.last() {
                        cursor = last.position;
                    }
                    received.extend(ids(&page));
                }
                received
            })
        };
        for writer in writers {
            writer.join().unwrap();
        }
        let received = reader.join().unwrap();
        let mut stored: Vec<u64> = {
            let mut conn = PgConnection::establish(db.url()).unwrap();
            run_events::table
                .select(run_events::id)
                .load::<i64>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|id| id as u64)
                .collect()
        };
        stored.sort_unstable();
        let mut sorted = received.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, stored, "every event once");
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, explain_sqlite, two_large_runs};

    /// The pump's and the subscribers' read, on never-analyzed tables of two 10,000-item runs
    /// with an event per item: the page after a position is found through the `(tx, id)` index
    /// and each event's item and text through primary keys, reading no other run's rows.
    #[test]
    fn a_page_of_events_is_read_through_indexes_without_statistics() {
        let Some((_db, _, mut conn)) = two_large_runs() else {
            return;
        };
        // An event for every item of both runs, the runs interleaved.
        diesel::sql_query(
            "INSERT INTO run_events (run_id, kind, sequence, payload, created_at) \
             SELECT runs.id, 'run_item', items.s, '{\"state\":\"running\"}', now() \
             FROM generate_series(1, 10000) AS items(s) CROSS JOIN runs ORDER BY items.s, runs.id",
        )
        .execute(&mut conn)
        .unwrap();
        let (tx, id): (i64, i64) = run_events::table
            .select((run_events::tx, run_events::id))
            .order((run_events::tx.desc(), run_events::id.desc()))
            .offset(1_000)
            .first(&mut conn)
            .unwrap();

        let page = explain(
            &mut conn,
            after_position!(tx, id)
                .filter(diesel::dsl::sql::<Bool>(SETTLED))
                .limit(500),
        );
        // The page's items: 250 of each run's, the run's other items and the other run's
        // untouched.
        let run = RunId::parse(
            &run_events::table
                .find(id)
                .select(run_events::run_id)
                .first::<String>(&mut conn)
                .unwrap(),
        )
        .unwrap();
        let sequences: Vec<i32> = (9_751..=10_000).collect();
        let texts = explain(&mut conn, item_texts!(&run, &sequences));
        let names = explain(
            &mut conn,
            runs::table
                .filter(runs::id.eq_any([run.as_str()]))
                .select(runs::provider_name),
        );
        // Whether any event waits to settle (asked after each pump read that found some): with
        // none waiting, every event is read and thrown away unless the index is used.
        let unsettled = explain(
            &mut conn,
            diesel::select(diesel::dsl::sql::<Bool>(ANY_UNSETTLED)),
        );
        for (what, plan, reads) in [
            ("page", page, vec![("run_events", "run_events_by_commit")]),
            (
                "unsettled",
                unsettled,
                vec![("run_events", "run_events_by_commit")],
            ),
            (
                "texts",
                texts,
                vec![
                    ("run_items", "run_items_pkey"),
                    ("dataset_items", "dataset_items_pkey"),
                ],
            ),
            ("names", names, vec![("runs", "runs_pkey")]),
        ] {
            assert!(
                plan.rows_removed <= 500,
                "{what}: {} rows read and thrown away: {:#}",
                plan.rows_removed,
                plan.plan
            );
            for (table, index) in reads {
                let scans = plan.scans_of(table);
                assert!(
                    !scans.is_empty() && scans.iter().all(|used| *used == Some(index)),
                    "{what}: {table} is read through {index}, not {scans:?}: {:#}",
                    plan.plan
                );
            }
        }
    }

    /// SQLite seeks the position in the `(tx, id)` index: a row-value comparison there was a
    /// seek on `tx` alone, which read every event stored (all have `tx` 0) at each page.
    #[test]
    fn on_sqlite_a_page_of_events_begins_at_its_position() {
        let db = crate::testing::TestDatabase::sqlite();
        let (rest, later) = db
            .read(|conn| {
                let DbConnection::Sqlite(conn) = conn else {
                    unreachable!("a SQLite test database")
                };
                Ok((
                    explain_sqlite(conn, rest_of_transaction!(0i64, 41i64).limit(500)),
                    explain_sqlite(conn, later_transactions!(0i64).limit(500)),
                ))
            })
            .unwrap();
        for (plan, seek) in [(rest, "(tx=? AND id>?)"), (later, "(tx>?)")] {
            assert_eq!(
                plan,
                [format!(
                    "SEARCH run_events USING INDEX run_events_by_commit {seek}"
                )],
                "one seek of the index, no sort"
            );
        }
    }
}
