//! The repository test suite, run against SQLite always and PostgreSQL when configured.

use std::collections::{BTreeSet, HashSet};

use chrono::{Duration, TimeZone, Utc};
use evalboard_domain::{
    AnswerKey, DatasetItem, DatasetName, ItemSelection, ItemState, RunChange, RunId, RunSettings,
    RunStatus, StateCounts, Timestamp, truncate_to_micros,
};
use evalboard_persistence::{
    ClaimRequest, DatasetImport, IdempotencyKey, ItemQuery, ItemTransition, NewRun, RetryScope,
    RunFilter, RunGeneration, RunOrder, StoreError, backend_tests,
    testing::{TestDatabase, answer},
};

fn at(seconds: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 6, 19, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn items(n: usize) -> Vec<DatasetItem> {
    let categories = ["math", "law", "history"];
    (0..n)
        .map(|i| DatasetItem {
            id: format!("q{i}"),
            category: categories[i % categories.len()].to_owned(),
            question: format!("Question {i}: which option is right? ünïcödé ✓"),
            choices: vec!["alpha".into(), "beta".into(), "gamma \"quoted\"".into()],
            answer: AnswerKey::from_index(i % 3).unwrap().into(),
            explanation: (i % 2 == 0).then(|| format!("because {i}")),
            source: Some("evalboard-test".into()),
        })
        .collect()
}

fn import(db: &TestDatabase, name: &str, items: &[DatasetItem]) {
    let name = DatasetName::parse(name).unwrap();
    db.import_dataset(DatasetImport {
        name: &name,
        items,
        at: at(0),
    })
    .unwrap();
}

fn new_run<'a>(dataset: &'a str, settings: &'a RunSettings, seconds: i64) -> NewRun<'a> {
    NewRun {
        provider_name: "Simulated",
        provider: None,
        model_name: "sim-1",
        dataset_name: dataset,
        dataset_version: None,
        settings,
        idempotency: None,
        requested_by: None,
        at: at(seconds),
    }
}

fn create(db: &TestDatabase, dataset: &str, seconds: i64) -> RunId {
    let settings = RunSettings::default();
    db.create_run(new_run(dataset, &settings, seconds))
        .unwrap()
        .run
        .id
}

fn recount(db: &TestDatabase, run: &RunId) -> StateCounts {
    StateCounts::from_states(db.item_states(run).unwrap().into_iter().map(|(_, s)| s))
}

fn move_items(db: &TestDatabase, run: &RunId, sequences: &[u32], to: ItemState, seconds: i64) {
    let transitions: Vec<_> = sequences
        .iter()
        .map(|&sequence| ItemTransition { sequence, to })
        .collect();
    db.transition_items(run, &transitions, at(seconds)).unwrap();
}

/// A claim by `worker` of at most `max` items at `seconds`, its leases running for `lease`
/// seconds.
fn claim_request(worker: &str, max: u32, seconds: i64, lease: i64) -> ClaimRequest<'_> {
    ClaimRequest {
        worker,
        lease_until: at(seconds + lease),
        max,
        at: at(seconds),
        generation: None,
    }
}

fn migrations_are_idempotent(db: &TestDatabase) {
    assert!(
        db.migrate().unwrap().is_empty(),
        "a second migrate applies nothing"
    );
    db.ping().unwrap();
}

fn datasets_import_version_and_list(db: &TestDatabase) {
    let name = DatasetName::parse("Demo").unwrap();
    let first = db
        .import_dataset(DatasetImport {
            name: &name,
            items: &items(7),
            at: at(0),
        })
        .unwrap();
    assert!(first.created);
    assert_eq!(first.dataset.version, 1);
    assert_eq!(first.dataset.item_count, 7);
    let categories: Vec<(&str, u64)> = first
        .dataset
        .categories
        .iter()
        .map(|c| (c.name.as_str(), c.items))
        .collect();
    assert_eq!(categories, [("history", 2), ("law", 2), ("math", 3)]);

    let again = db
        .import_dataset(DatasetImport {
            name: &name,
            items: &items(7),
            at: at(5),
        })
        .unwrap();
    assert!(!again.created, "the same content is not stored twice");
    assert_eq!(again.dataset, first.dataset);

    let second = db
        .import_dataset(DatasetImport {
            name: &name,
            items: &items(8),
            at: at(10),
        })
        .unwrap();
    assert!(second.created);
    assert_eq!(second.dataset.version, 2);
    assert_ne!(second.dataset.digest, first.dataset.digest);

    import(db, "Another", &items(2));
    import(db, "beta", &items(1));
    import(db, "Beta", &items(1));
    let listed = db.list_datasets().unwrap();
    let names: Vec<(&str, u32, u64)> = listed
        .iter()
        .map(|d| (d.name.as_str(), d.version, d.item_count))
        .collect();
    // A reader's order, on either backend: case ignored, then bytes.
    assert_eq!(
        names,
        [
            ("Another", 1, 2),
            ("Beta", 1, 1),
            ("beta", 1, 1),
            ("Demo", 2, 8)
        ]
    );
    assert_eq!(
        db.find_dataset("Demo").unwrap().unwrap().id,
        second.dataset.id
    );
    assert!(db.find_dataset("Nope").unwrap().is_none());
    assert_eq!(
        db.dataset_items(&second.dataset.id).unwrap(),
        items(8),
        "items read back unchanged"
    );
}

fn creating_a_run_selects_items_and_records_it(db: &TestDatabase) {
    import(db, "Demo", &items(30));
    let settings = RunSettings {
        concurrency: Some(4),
        selection: ItemSelection {
            categories: Some(vec!["law".into()]),
            sample_size: Some(4),
            seed: Some(9),
        },
        ..Default::default()
    };
    let created = db.create_run(new_run("Demo", &settings, 1)).unwrap();
    assert!(!created.replayed);
    let run = created.run;
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.counts.progress().total, 4);
    assert_eq!(run.counts.pending, 4);
    assert_eq!(run.settings, settings);
    assert_eq!(run.created_at, at(1));
    assert_eq!(
        db.get_run(&run.id).unwrap(),
        run,
        "reads back exactly as created"
    );
    let states = db.item_states(&run.id).unwrap();
    assert_eq!(
        states,
        (1..=4).map(|s| (s, ItemState::Pending)).collect::<Vec<_>>()
    );
    // Item n is the n-th chosen dataset item, in dataset order.
    let dataset = items(30);
    let chosen = settings
        .selection
        .apply(
            "selection",
            dataset.iter().map(|i| (i.id.as_str(), i.category.as_str())),
        )
        .unwrap();
    let page = db.run_items(&run.id, &ItemQuery::first(10)).unwrap();
    let stored: Vec<(u32, &str)> = page
        .items
        .iter()
        .map(|i| (i.sequence, i.dataset_item_id.as_str()))
        .collect();
    let expected: Vec<(u32, &str)> = chosen
        .iter()
        .enumerate()
        .map(|(n, &i)| (n as u32 + 1, dataset[i].id.as_str()))
        .collect();
    assert_eq!(stored, expected);
    let logs = db.run_logs(&run.id, None, 10).unwrap();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].message.contains("4 item(s)"), "{}", logs[0].message);
    db.wait_for_events_to_settle();
    let events = db.events_after(Default::default(), None, 10).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["run_status", "run_progress"]);
    assert!(events.iter().all(|e| e.run_id == run.id));
    match &events[0].change {
        RunChange::Status {
            run: header,
            previous,
            lifecycle,
        } => {
            assert_eq!(header.status, RunStatus::Pending);
            assert_eq!(header.model_name, run.model_name);
            assert_eq!(*previous, None);
            assert_eq!(lifecycle.resumed_count, 0);
        }
        other => panic!("expected a status event, got {other:?}"),
    }
    assert_eq!(events[1].change, RunChange::Progress(run.counts));
}

/// A run evaluates the version of its dataset it names, else the newest; a version the
/// dataset does not have is refused naming the versions it has, and checked alike before.
fn a_run_evaluates_the_dataset_version_it_names(db: &TestDatabase) {
    import(db, "Demo", &items(3));
    import(db, "Demo", &items(5));
    let settings = RunSettings::default();
    let run = |version: Option<u32>| {
        db.create_run(NewRun {
            dataset_version: version,
            ..new_run("Demo", &settings, 1)
        })
    };
    let first = run(Some(1)).unwrap().run;
    assert_eq!((first.dataset_version, first.counts.total()), (1, 3));
    let newest = run(None).unwrap().run;
    assert_eq!((newest.dataset_version, newest.counts.total()), (2, 5));
    assert_ne!(first.dataset_digest, newest.dataset_digest);
    assert_eq!(run(Some(2)).unwrap().run.dataset_id, newest.dataset_id);
    match run(Some(3)) {
        Err(StoreError::Invalid(errors)) => {
            assert_eq!(errors.0[0].field, "datasetVersion");
            assert!(
                errors.0[0].message.contains("versions are 1 to 2"),
                "{errors:?}"
            );
        }
        other => panic!("expected an unknown version, got {other:?}"),
    }
    let checked = db.check_run_target("Demo", Some(3), &settings).unwrap();
    assert_eq!(checked.0[0].field, "datasetVersion");
    assert!(
        db.check_run_target("Demo", Some(1), &settings)
            .unwrap()
            .0
            .is_empty()
    );
    // An unknown dataset is said as such, whatever the version.
    let checked = db.check_run_target("Missing", Some(1), &settings).unwrap();
    assert_eq!(checked.0[0].field, "datasetName");
    assert_eq!(
        db.list_runs(&RunFilter::default(), None, 10)
            .unwrap()
            .runs
            .len(),
        3
    );
}

fn invalid_runs_write_nothing(db: &TestDatabase) {
    import(db, "Demo", &items(5));
    let settings = RunSettings::default();
    match db.create_run(new_run("Missing", &settings, 0)) {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.0[0].field, "datasetName"),
        other => panic!("expected an invalid dataset, got {other:?}"),
    }
    let bad_category = RunSettings {
        selection: ItemSelection {
            categories: Some(vec!["poetry".into()]),
            ..Default::default()
        },
        ..Default::default()
    };
    match db.create_run(new_run("Demo", &bad_category, 0)) {
        Err(StoreError::Invalid(errors)) => {
            assert_eq!(errors.0[0].field, "settings.selection.categories")
        }
        other => panic!("expected an invalid category, got {other:?}"),
    }
    assert!(
        db.list_runs(&RunFilter::default(), None, 10)
            .unwrap()
            .runs
            .is_empty()
    );
    assert!(
        db.events_after(Default::default(), None, 10)
            .unwrap()
            .is_empty()
    );
}

fn idempotency_keys_replay_the_first_run(db: &TestDatabase) {
    import(db, "Demo", &items(3));
    let settings = RunSettings::default();
    let with_key = |hash| NewRun {
        idempotency: Some(IdempotencyKey {
            key: "client-key-1",
            request_hash: hash,
        }),
        ..new_run("Demo", &settings, 0)
    };
    let first = db.create_run(with_key("hash-a")).unwrap();
    let second = db.create_run(with_key("hash-a")).unwrap();
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(first.run.id, second.run.id);
    assert!(matches!(
        db.create_run(with_key("hash-b")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        db.list_runs(&RunFilter::default(), None, 10)
            .unwrap()
            .runs
            .len(),
        1
    );
}

fn concurrent_requests_with_one_key_make_one_run(db: &TestDatabase) {
    import(db, "Demo", &items(50));
    let settings = RunSettings::default();
    let ids: Vec<RunId> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    db.create_run(NewRun {
                        idempotency: Some(IdempotencyKey {
                            key: "same",
                            request_hash: "h",
                        }),
                        ..new_run("Demo", &settings, 0)
                    })
                    .unwrap()
                    .run
                    .id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(
        db.list_runs(&RunFilter::default(), None, 10)
            .unwrap()
            .runs
            .len(),
        1
    );
}

fn runs_list_newest_first_with_filters_and_cursor(db: &TestDatabase) {
    import(db, "Demo", &items(3));
    import(db, "Other", &items(2));
    let settings = RunSettings::default();
    let mut created = Vec::new();
    for i in 0..7 {
        let dataset = if i % 2 == 0 { "Demo" } else { "Other" };
        // Two runs share each creation second, so the id must break ties.
        created.push(
            db.create_run(new_run(dataset, &settings, i / 2))
                .unwrap()
                .run,
        );
    }
    db.set_run_status(&created[0].id, RunStatus::Running, at(20))
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .list_runs(&RunFilter::default(), cursor.as_ref(), 3)
            .unwrap();
        assert!(page.runs.len() <= 3);
        seen.extend(page.runs.iter().map(|r| (r.created_at, r.id.clone())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected, "newest first, ties broken by id");
    assert_eq!(
        seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(),
        7
    );

    let only = |filter: RunFilter| db.list_runs(&filter, None, 50).unwrap().runs.len();
    assert_eq!(
        only(RunFilter {
            dataset_name: Some("Other".into()),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        only(RunFilter {
            statuses: vec![RunStatus::Running],
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        only(RunFilter {
            statuses: vec![RunStatus::Running, RunStatus::Pending],
            ..Default::default()
        }),
        7
    );
    assert_eq!(
        only(RunFilter {
            provider_name: Some("OpenAI".into()),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        only(RunFilter {
            model_name: Some("sim-1".into()),
            ..Default::default()
        }),
        7
    );
    assert_eq!(
        only(RunFilter {
            created_from: Some(at(1)),
            created_before: Some(at(3)),
            ..Default::default()
        }),
        4
    );
}

/// The archive in each order, paged two runs at a time: by creation time either way, and by
/// accuracy over the judged items either way, runs of one accuracy newest first and runs with
/// nothing judged last.
fn runs_are_listed_in_the_order_asked(db: &TestDatabase) {
    import(db, "Demo", &items(4));
    // (created at, correct, incorrect)
    let shapes = [
        (1, 3, 1),
        (2, 0, 0),
        (3, 1, 1),
        (4, 3, 1),
        (5, 2, 0),
        (6, 0, 2),
        (7, 0, 0),
    ];
    let mut runs = Vec::new();
    for (seconds, correct, incorrect) in shapes {
        let run = create(db, "Demo", seconds);
        db.set_run_status(&run, RunStatus::Running, at(seconds))
            .unwrap();
        let judged: Vec<u32> = (1..=correct + incorrect).collect();
        if !judged.is_empty() {
            move_items(db, &run, &judged, ItemState::Running, seconds);
            move_items(db, &run, &judged, ItemState::Awaiting, seconds);
            move_items(
                db,
                &run,
                &judged[..correct as usize],
                ItemState::Correct,
                seconds,
            );
            move_items(
                db,
                &run,
                &judged[correct as usize..],
                ItemState::Incorrect,
                seconds,
            );
        }
        runs.push(run);
    }
    let listed = |order: RunOrder| {
        let filter = RunFilter {
            order,
            ..Default::default()
        };
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = db.list_runs(&filter, cursor.as_ref(), 2).unwrap();
            seen.extend(
                page.runs
                    .iter()
                    .map(|run| runs.iter().position(|id| *id == run.id).unwrap()),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        seen
    };
    assert_eq!(listed(RunOrder::Newest), [6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(listed(RunOrder::Oldest), [0, 1, 2, 3, 4, 5, 6]);
    // 1.0, then two runs at 0.75 (the newer first), 0.5, 0.0, then the two with none judged.
    assert_eq!(listed(RunOrder::MostAccurate), [4, 3, 0, 2, 5, 6, 1]);
    assert_eq!(listed(RunOrder::LeastAccurate), [5, 2, 3, 0, 4, 6, 1]);
    // Within the other filters, counted alike.
    let filter = RunFilter {
        order: RunOrder::LeastAccurate,
        created_from: Some(at(3)),
        ..Default::default()
    };
    let page = db.list_runs(&filter, None, 2).unwrap();
    assert_eq!(page.total, Some(5));
    assert_eq!(page.runs[0].id, runs[5]);
    assert_eq!(page.runs[1].id, runs[2]);
}

/// The archive's search finds runs by part of their provider's, model's or dataset's name,
/// whatever the case; `%`, `_` and `\` in it are themselves, not patterns.
fn runs_are_found_by_part_of_a_name(db: &TestDatabase) {
    import(db, "MMLU_Pro 100%", &items(2));
    import(db, "MMLU-Pro", &items(2));
    let settings = RunSettings::default();
    let special = db
        .create_run(new_run("MMLU_Pro 100%", &settings, 1))
        .unwrap()
        .run
        .id;
    let plain = db
        .create_run(new_run("MMLU-Pro", &settings, 2))
        .unwrap()
        .run
        .id;
    let found = |text: &str| {
        let filter = RunFilter {
            search: Some(text.into()),
            ..Default::default()
        };
        let page = db.list_runs(&filter, None, 50).unwrap();
        assert_eq!(page.total, Some(page.runs.len() as u64), "{text}");
        page.runs.into_iter().map(|run| run.id).collect::<Vec<_>>()
    };
    assert_eq!(found("mmlu"), [plain.clone(), special.clone()]);
    assert_eq!(found("SIM-"), [plain.clone(), special.clone()], "the model");
    assert_eq!(
        found("ulated"),
        [plain.clone(), special.clone()],
        "the provider"
    );
    assert_eq!(found("u_p"), vec![special.clone()], "`_` is itself");
    assert_eq!(found("0%"), vec![special.clone()]);
    assert_eq!(found("1%"), [], "`%` is itself");
    assert_eq!(found("u-pro"), vec![plain.clone()]);
    assert_eq!(found("\\"), []);
    assert_eq!(found("gpt"), []);
    // With the other filters.
    let filter = RunFilter {
        search: Some("mmlu".into()),
        dataset_name: Some("MMLU-Pro".into()),
        ..Default::default()
    };
    assert_eq!(db.list_runs(&filter, None, 50).unwrap().runs.len(), 1);
    // A letter beyond ASCII is found whatever its case on both backends (SQLite's own `lower`
    // leaves it as it is).
    import(db, "ÜberQA", &items(2));
    let umlaut = db
        .create_run(new_run("ÜberQA", &settings, 3))
        .unwrap()
        .run
        .id;
    assert_eq!(found("Über"), vec![umlaut.clone()]);
    assert_eq!(found("über"), vec![umlaut.clone()]);
    assert_eq!(found("ÜBERQA"), vec![umlaut.clone()]);
    assert_eq!(found("BERq"), vec![umlaut]);
    // Letter by letter: a Σ is σ inside a name and at the end of the text searched for alike.
    import(db, "ΟΔΟΣX", &items(2));
    let sigma = db
        .create_run(new_run("ΟΔΟΣX", &settings, 4))
        .unwrap()
        .run
        .id;
    assert_eq!(found("ΟΔΟΣ"), vec![sigma.clone()]);
    assert_eq!(found("οδοσx"), vec![sigma]);
}

fn item_transitions_keep_counters_equal_to_rows(db: &TestDatabase) {
    import(db, "Demo", &items(10));
    let run = create(db, "Demo", 0);
    db.set_run_status(&run, RunStatus::Running, at(1)).unwrap();
    move_items(db, &run, &[1, 2, 3, 4, 5], ItemState::Running, 2);
    move_items(db, &run, &[1, 2, 3], ItemState::Awaiting, 3);
    move_items(db, &run, &[1, 2], ItemState::Correct, 4);
    move_items(db, &run, &[3], ItemState::Incorrect, 4);
    move_items(db, &run, &[4], ItemState::Failed, 5);
    move_items(db, &run, &[6, 7], ItemState::Canceled, 5);
    move_items(db, &run, &[5], ItemState::Pending, 6);

    let stored = db.get_run(&run).unwrap();
    assert_eq!(stored.counts, recount(db, &run));
    db.wait_for_events_to_settle();
    let progress_events: Vec<StateCounts> = db
        .events_after(Default::default(), None, 100)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.change {
            RunChange::Progress(counts) => Some(counts),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress_events.len(),
        8,
        "one at creation, then one per committed batch"
    );
    assert_eq!(progress_events[7].canceled, 2);
    assert_eq!(progress_events[7].pending, 4);
    assert_eq!(progress_events[7], stored.counts);
    let p = stored.counts.progress();
    assert_eq!(
        (
            p.completed,
            p.total,
            p.correct,
            p.incorrect,
            p.awaiting,
            p.faulted,
            p.pending
        ),
        (6, 10, 2, 1, 0, 3, 4)
    );

    // An illegal move anywhere in a batch changes nothing.
    let before = db.item_states(&run).unwrap();
    let err = db
        .transition_items(
            &run,
            &[
                ItemTransition {
                    sequence: 8,
                    to: ItemState::Running,
                },
                ItemTransition {
                    sequence: 9,
                    to: ItemState::Correct,
                },
            ],
            at(7),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");
    assert_eq!(db.item_states(&run).unwrap(), before);
    assert!(matches!(
        db.transition_items(
            &run,
            &[ItemTransition {
                sequence: 99,
                to: ItemState::Running
            }],
            at(7)
        ),
        Err(StoreError::NotFound { entity: "item", .. })
    ));
    let twice = [ItemTransition {
        sequence: 8,
        to: ItemState::Running,
    }; 2];
    assert!(matches!(
        db.transition_items(&run, &twice, at(7)),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(db.get_run(&run).unwrap().counts, recount(db, &run));
}

fn concurrent_transitions_on_one_run_lose_no_update(db: &TestDatabase) {
    import(db, "Demo", &items(120));
    let run = create(db, "Demo", 0);
    std::thread::scope(|scope| {
        for worker in 0..4u32 {
            let run = &run;
            scope.spawn(move || {
                for sequence in (1..=120u32).filter(|s| s % 4 == worker) {
                    for to in [ItemState::Running, ItemState::Awaiting, ItemState::Correct] {
                        db.transition_items(run, &[ItemTransition { sequence, to }], at(1))
                            .unwrap();
                    }
                }
            });
        }
    });
    let stored = db.get_run(&run).unwrap();
    assert_eq!(stored.counts, recount(db, &run));
    assert_eq!(stored.counts.correct, 120);
}

fn run_status_moves_follow_the_rules(db: &TestDatabase) {
    import(db, "Demo", &items(2));
    let run = create(db, "Demo", 0);
    let running = db.set_run_status(&run, RunStatus::Running, at(1)).unwrap();
    assert_eq!(running.started_at, Some(at(1)));
    assert_eq!(running.finished_at, None);
    let done = db
        .set_run_status(&run, RunStatus::Completed, at(2))
        .unwrap();
    assert_eq!(done.finished_at, Some(at(2)));
    assert_eq!(done.started_at, Some(at(1)));
    assert!(matches!(
        db.set_run_status(&run, RunStatus::Running, at(3)),
        Err(StoreError::Transition(_))
    ));
    let reopened = db.set_run_status(&run, RunStatus::Pending, at(4)).unwrap();
    assert_eq!(reopened.finished_at, None);
    db.wait_for_events_to_settle();
    let kinds: Vec<&str> = db
        .events_after(Default::default(), None, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.change.kind())
        .filter(|&kind| kind == "run_status")
        .collect();
    assert_eq!(
        kinds.len(),
        4,
        "creation and three status changes: {kinds:?}"
    );
    assert!(matches!(
        db.set_run_status(&RunId::generate(), RunStatus::Running, at(0)),
        Err(StoreError::NotFound { entity: "run", .. })
    ));
}

/// A run's failure holds only for the generation it was seen in: one reported late, after the
/// run was retried, changes nothing (the engine's writer may store it well after it was seen).
fn a_failure_seen_before_a_retry_does_not_fail_the_retried_run(db: &TestDatabase) {
    import(db, "Demo", &items(3));
    let run = create(db, "Demo", 0);
    let first = RunGeneration::of(&db.get_run(&run).unwrap());
    let failed = db
        .fail_run(&run, first, "unauthorized", "the key was refused", at(1))
        .unwrap()
        .expect("the run fails");
    assert_eq!(failed.items_failed, 3);
    let failed = failed.run;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.counts.failed, 3);
    let retried = db
        .retry_run(&run, RetryScope::Faulted, None, None, at(2))
        .unwrap();
    assert_eq!(retried.status, RunStatus::Pending);
    // The same failure, reported again by another item of the first generation.
    assert_eq!(
        db.fail_run(&run, first, "unauthorized", "the key was refused", at(3))
            .unwrap(),
        None
    );
    let after = db.get_run(&run).unwrap();
    assert_eq!(after.status, RunStatus::Pending);
    assert_eq!(after.counts.pending, 3);
    assert_eq!(after.failure, None);
    assert!(
        db.fail_run(
            &run,
            RunGeneration::of(&after),
            "unauthorized",
            "unauthorized: again",
            at(4)
        )
        .unwrap()
        .is_some(),
        "a failure of the current generation still fails it"
    );
    // The log says the kind once, whether the message starts with it or not.
    let log: Vec<String> = db
        .query_logs(&run, &evalboard_persistence::LogQuery::default(), 100)
        .unwrap()
        .into_iter()
        .map(|entry| entry.message)
        .filter(|message| message.contains("-> failed"))
        .collect();
    assert_eq!(
        log,
        [
            "status running -> failed: unauthorized: the key was refused",
            "status running -> failed: unauthorized: again"
        ]
    );
}

fn resuming_is_recorded_only_for_running_runs(db: &TestDatabase) {
    import(db, "Demo", &items(2));
    let run = create(db, "Demo", 0);
    assert!(matches!(
        db.record_resume(&run, at(1)),
        Err(StoreError::Conflict(_))
    ));
    db.set_run_status(&run, RunStatus::Running, at(2)).unwrap();
    db.record_resume(&run, at(3)).unwrap();
    let resumed = db.record_resume(&run, at(4)).unwrap();
    assert_eq!(resumed.lifecycle.resumed_count, 2);
    assert_eq!(resumed.lifecycle.last_resumed_at, Some(at(4)));
    assert_eq!(db.get_run(&run).unwrap().lifecycle, resumed.lifecycle);
}

fn active_runs_come_first_then_recently_finished(db: &TestDatabase) {
    import(db, "Demo", &items(10));
    let old_done = create(db, "Demo", 0);
    let new_done = create(db, "Demo", 1);
    let active_old = create(db, "Demo", 2);
    let active_new = create(db, "Demo", 3);
    for (run, finished) in [(&new_done, 10), (&old_done, 20)] {
        db.set_run_status(run, RunStatus::Running, at(finished - 1))
            .unwrap();
        db.set_run_status(run, RunStatus::Completed, at(finished))
            .unwrap();
    }
    db.set_run_status(&active_old, RunStatus::Running, at(4))
        .unwrap();
    move_items(db, &active_old, &[1, 2, 3], ItemState::Running, 5);
    move_items(db, &active_old, &[4], ItemState::Running, 6);
    move_items(db, &active_old, &[1, 2], ItemState::Awaiting, 7);
    move_items(db, &active_old, &[1], ItemState::Correct, 8);
    move_items(db, &active_old, &[2], ItemState::Incorrect, 9);

    let board = db.active_runs(12).unwrap();
    let order: Vec<&RunId> = board.iter().map(|a| &a.run.id).collect();
    // Active runs newest first, then finished runs by when they finished.
    assert_eq!(order, [&active_new, &active_old, &old_done, &new_done]);
    let snapshot = &board[1];
    let current = snapshot.current_item.as_ref().unwrap();
    assert_eq!((current.sequence, current.state), (4, ItemState::Running));
    assert!(current.prompt_text.starts_with("Question 3:"));
    assert_eq!(current.choices.len(), 3);
    let recent: Vec<(u32, ItemState)> = snapshot
        .recent_items
        .iter()
        .map(|i| (i.sequence, i.state))
        .collect();
    assert_eq!(recent, [(2, ItemState::Incorrect), (1, ItemState::Correct)]);
    assert!(board[0].current_item.is_none());
    assert!(board[0].recent_items.is_empty());
    assert_eq!(db.active_runs(1).unwrap().len(), 1);
    assert_eq!(db.active_runs(3).unwrap()[2].run.id, old_done);
}

thread_local! {
    /// Statements started on this thread, by connections made after `count_statements`: the
    /// text of each (its binds left out).
    static STATEMENTS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The texts those connections prepared and kept in their statement caches.
    static CACHED: std::cell::RefCell<HashSet<String>> = std::cell::RefCell::new(HashSet::new());
}

/// Makes every connection created from now on record the statements it starts (on the thread
/// that runs them: each test counts its own).
fn count_statements() {
    fn counting() -> Option<Box<dyn diesel::connection::Instrumentation>> {
        Some(Box::new(
            |event: diesel::connection::InstrumentationEvent<'_>| match event {
                diesel::connection::InstrumentationEvent::StartQuery { query, .. } => {
                    let text = query.to_string();
                    let sql = text.split(" -- binds:").next().unwrap_or_default();
                    STATEMENTS.with(|s| s.borrow_mut().push(sql.to_owned()));
                }
                diesel::connection::InstrumentationEvent::CacheQuery { sql, .. } => {
                    CACHED.with(|c| c.borrow_mut().insert(sql.to_owned()));
                }
                _ => {}
            },
        ))
    }
    diesel::connection::set_default_instrumentation(counting).unwrap();
}

/// The statements `work` started, in order.
fn statements_of<T>(work: impl FnOnce() -> T) -> (T, Vec<String>) {
    let before = STATEMENTS.with(|s| s.borrow().len());
    let value = work();
    (value, STATEMENTS.with(|s| s.borrow()[before..].to_vec()))
}

/// The board's statements are the same few texts for one snapshot or 24 (each connection
/// prepares them once): on PostgreSQL one statement reads every snapshot's items, on SQLite (no
/// round trips to save) one per run. Its recent items are the newest by finish time, ties (a
/// bulk cancel) broken by sequence.
fn the_boards_statements_are_the_same_whatever_its_size(db: &TestDatabase) {
    import(db, "Demo", &items(12));
    let runs: Vec<RunId> = (0..24).map(|i| create(db, "Demo", i)).collect();
    for run in &runs[..20] {
        db.set_run_status(run, RunStatus::Running, at(30)).unwrap();
        move_items(
            db,
            run,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
            ItemState::Running,
            31,
        );
        // Eight items end at one instant, as a bulk cancel ends them.
        move_items(db, run, &[1, 2, 3, 4, 5, 6, 7, 8], ItemState::Canceled, 32);
    }
    count_statements();
    let board_db = evalboard_persistence::Database::connect(
        db.url(),
        &evalboard_persistence::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    let _ = board_db.active_runs(1).unwrap(); // the connection's own set-up, once
    let (one, for_one) = statements_of(|| board_db.active_runs(1).unwrap());
    let (all, for_all) = statements_of(|| board_db.active_runs(24).unwrap());
    assert_eq!((one.len(), all.len()), (1, 24));
    assert!(!for_one.is_empty());
    let texts = |statements: &[String]| statements.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        texts(&for_one),
        texts(&for_all),
        "the statements' texts for 1 and for 24 snapshots"
    );
    let per_run = usize::from(db.url().starts_with("sqlite"));
    assert_eq!(
        for_all.len(),
        for_one.len() + 23 * per_run,
        "statements for 1 and for 24 snapshots: {for_all:#?}"
    );
    for snapshot in all.iter().filter(|s| s.run.status == RunStatus::Running) {
        let recent: Vec<u32> = snapshot.recent_items.iter().map(|i| i.sequence).collect();
        assert_eq!(recent, [8, 7, 6, 5, 4], "{}", snapshot.run.id);
        assert!(
            snapshot
                .recent_items
                .iter()
                .all(|i| i.state == ItemState::Canceled)
        );
        let current = snapshot.current_item.as_ref().unwrap();
        assert_eq!((current.sequence, current.state), (9, ItemState::Running));
        assert!(current.prompt_text.starts_with("Question 8:"));
    }
    assert_eq!(
        all.iter().filter(|s| s.current_item.is_none()).count(),
        4,
        "pending runs have no current item"
    );
}

fn installation_secrets_are_made_once_and_shared(db: &TestDatabase) {
    let first = db.installation_secret("cursor").unwrap();
    assert_eq!(db.installation_secret("cursor").unwrap(), first);
    assert_ne!(db.installation_secret("other").unwrap(), first);
    assert_ne!(first, [0; 32]);
    // Another pool on the same database (another replica) reads the same one.
    let replica = evalboard_persistence::Database::connect(
        db.url(),
        &evalboard_persistence::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    assert_eq!(replica.installation_secret("cursor").unwrap(), first);
}

fn timestamps_keep_microseconds(db: &TestDatabase) {
    import(db, "Demo", &items(1));
    let precise = truncate_to_micros(at(0) + Duration::nanoseconds(123_456_789));
    let settings = RunSettings::default();
    let run = db
        .create_run(NewRun {
            requested_by: None,
            at: precise,
            ..new_run("Demo", &settings, 0)
        })
        .unwrap()
        .run;
    assert_eq!(db.get_run(&run.id).unwrap().created_at, precise);
}

fn concurrent_imports_under_one_name_get_distinct_versions(db: &TestDatabase) {
    let name = DatasetName::parse("Race").unwrap();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=6)
            .map(|n| {
                let name = &name;
                scope.spawn(move || {
                    db.import_dataset(DatasetImport {
                        name,
                        items: &items(n),
                        at: at(0),
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut versions: Vec<u32> = outcomes.iter().map(|o| o.dataset.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);

    // The same content from several importers at once is stored once.
    let twins: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let name = &name;
                scope.spawn(move || {
                    db.import_dataset(DatasetImport {
                        name,
                        items: &items(9),
                        at: at(1),
                    })
                    .unwrap()
                    .created
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        twins.iter().filter(|created| **created).count(),
        1,
        "{twins:?}"
    );
}

/// Two pools on one database stand for two processes (a server and an import command, or two
/// replicas): their read-then-write transactions must wait for each other, not fail.
fn writers_in_separate_pools_wait_for_each_other(db: &TestDatabase) {
    let other = evalboard_persistence::Database::connect(db.url(), &Default::default()).unwrap();
    import(db, "Demo", &items(20));
    let settings = RunSettings::default();
    std::thread::scope(|scope| {
        for pool in [&**db, &other, &**db, &other] {
            let settings = &settings;
            scope.spawn(move || {
                for i in 0..15 {
                    pool.create_run(new_run("Demo", settings, i)).unwrap();
                }
            });
        }
    });
    assert_eq!(
        db.list_runs(&RunFilter::default(), None, 100)
            .unwrap()
            .runs
            .len(),
        60
    );
}

fn a_batch_of_outcomes_applies_in_one_transaction(db: &TestDatabase) {
    use evalboard_domain::{TokenUsage, Verdict, extract_answer};
    use evalboard_persistence::{Answer, ItemQuery, Judgment, Outcome, OutcomeKind};
    import(db, "Demo", &items(6));
    let run = create(db, "Demo", 0);
    let claim = db.claim_items(&run, claim_request("w", 6, 1, 99)).unwrap();
    assert_eq!(claim.items.len(), 6);
    // The claim stored each item's prompt, as handed out; no start: claimed is not sent.
    let claimed = db.run_items(&run, &ItemQuery::first(10)).unwrap();
    for (item, handed) in claimed.items.iter().zip(&claim.items) {
        assert_eq!(item.prompt_text.as_deref(), Some(handed.prompt.as_str()));
        assert_eq!(item.started_at, None);
    }
    let answered = |sequence: u32, attempt: u32, letter: char| Outcome {
        run_id: run.clone(),
        sequence,
        attempt,
        started_at: at(2),
        kind: OutcomeKind::Answered {
            answer: Answer {
                first_token_at: Some(at(3)),
                usage: TokenUsage {
                    prompt_tokens: Some(10),
                    ..TokenUsage::default()
                },
                ..answer(
                    &format!("prompt {sequence}"),
                    &format!("The answer is ({letter})."),
                    at(4),
                )
            },
            judgment: Some(Judgment {
                verdict: if letter == 'A' {
                    Verdict::Correct
                } else {
                    Verdict::Incorrect
                },
                extraction: extract_answer(&format!("The answer is ({letter}).")).into(),
                judge: "choice".into(),
                rationale: None,
                at: at(4),
                spent: None,
            }),
        },
    };
    let started = |sequence: u32, attempt: u32| Outcome {
        kind: OutcomeKind::Started,
        ..answered(sequence, attempt, 'A')
    };
    let outcomes = vec![
        started(1, 1),
        answered(1, 1, 'A'),
        answered(2, 1, 'B'),
        answered(3, 1, 'A'),
        // A retry then the next attempt's answer, in the same batch: applied in order.
        Outcome {
            kind: OutcomeKind::Retrying {
                error: evalboard_persistence::ItemError {
                    kind: "timeout".into(),
                    message: "slow".into(),
                },
                delay_ms: 5,
            },
            ..answered(4, 1, 'A')
        },
        answered(4, 2, 'A'),
        // A stale outcome (wrong attempt) is dropped.
        answered(5, 7, 'A'),
        // A "sent" that no longer holds (its item was answered) says nothing.
        started(3, 1),
        // A "sent" alone: logged; the item, still running, shows the prompt its claim stored.
        started(6, 1),
    ];
    let applied = db.apply_outcomes("w", &outcomes, at(5)).unwrap();
    assert_eq!(
        applied.applied,
        [true, true, true, true, true, true, false, false, true]
    );
    let stored = db.get_run(&run).unwrap();
    assert_eq!(
        (
            stored.counts.correct,
            stored.counts.incorrect,
            stored.counts.running
        ),
        (3, 1, 2)
    );
    assert_eq!(stored.counts, recount(db, &run));
    // Every field of an answer reads back, whichever statement stored it (on PostgreSQL a lone
    // judged answer goes through the bulk update, an item with several outcomes one by one).
    let page = db.run_items(&run, &ItemQuery::first(10)).unwrap();
    for sequence in [2, 4] {
        let item = &page.items[sequence - 1];
        let letter = if sequence == 2 { 'B' } else { 'A' };
        assert_eq!(
            item.prompt_text.as_deref(),
            Some(&*format!("prompt {sequence}"))
        );
        assert_eq!(
            item.response_text.as_deref(),
            Some(&*format!("The answer is ({letter})."))
        );
        assert_eq!(item.extracted_answer, Some(letter.to_string()));
        assert!(item.extraction_tier.is_some());
        assert_eq!(item.judge.as_deref(), Some("choice"));
        assert_eq!(item.judge_rationale, None);
        assert_eq!(
            (item.usage.prompt_tokens, item.usage.completion_tokens),
            (Some(10), None)
        );
        assert_eq!(
            (item.started_at, item.first_token_at, item.answered_at),
            (Some(at(2)), Some(at(3)), Some(at(4)))
        );
        assert_eq!(
            (item.judged_at, item.finished_at),
            (Some(at(4)), Some(at(5)))
        );
        // The answered attempt ended with its answer; the item was stored later.
        let last = item.attempts.last().unwrap();
        assert_eq!(last.outcome.as_deref(), Some("answered"));
        assert_eq!(
            (last.started_at, last.first_token_at, last.finished_at),
            (at(2), Some(at(3)), Some(at(4)))
        );
    }
    assert_eq!(page.items[1].state, ItemState::Incorrect);
    assert_eq!(page.items[3].state, ItemState::Correct);
    // Sent: in flight from the batch that said so (its answer will carry the exact start).
    let sent = &page.items[5];
    assert_eq!(sent.state, ItemState::Running);
    assert_eq!(
        (sent.prompt_text.as_deref(), sent.started_at),
        (Some(claim.items[5].prompt.as_str()), Some(at(5)))
    );
    let logged = db
        .query_logs(&run, &evalboard_persistence::LogQuery::default(), 100)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.message == "attempt 1 sent")
        .filter_map(|entry| entry.sequence)
        .collect::<Vec<_>>();
    assert_eq!(logged, [1, 6], "only sends that held are logged");
    // Another worker's outcomes change nothing.
    assert_eq!(
        db.apply_outcomes("other", &[answered(6, 1, 'A')], at(6))
            .unwrap()
            .applied,
        [false]
    );
}

fn lost_connections_are_replaced(db: &TestDatabase) {
    import(db, "Demo", &items(2));
    db.ping().unwrap();
    if db.terminate_connections() == 0 {
        return; // SQLite: nothing to lose.
    }
    // Every pooled connection is dead now. A read retries once on a fresh connection; whatever
    // still fails must say "unavailable", never look like a query error, and the pool heals.
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        match db.list_datasets() {
            Ok(datasets) => outcomes.push(Ok(datasets.len())),
            Err(StoreError::Unavailable(_)) => outcomes.push(Err("unavailable")),
            Err(other) => panic!("a lost connection surfaced as {other:?}"),
        }
    }
    assert_eq!(outcomes.last(), Some(&Ok(1)), "{outcomes:?}");
    assert!(
        outcomes.iter().filter(|o| o.is_err()).count() <= 1,
        "{outcomes:?}"
    );
    let settings = RunSettings::default();
    db.create_run(new_run("Demo", &settings, 0)).unwrap();
}

/// One resume per worker whose claims were taken over, however many claims it takes, and
/// whatever the spread of that worker's lease ends.
fn a_dead_workers_items_are_taken_over_as_one_resume(db: &TestDatabase) {
    use evalboard_persistence::{Outcome, OutcomeKind};
    import(db, "Demo", &items(20));
    let run = create(db, "Demo", 0);
    let claim = |worker: &str, max: u32, seconds: i64, lease: i64| {
        db.claim_items(&run, claim_request(worker, max, seconds, lease))
            .unwrap()
    };
    // w1 claims six items, then four more later (their leases end later too).
    assert_eq!(claim("w1", 6, 1, 10).items.len(), 6);
    assert_eq!(claim("w1", 4, 5, 10).items.len(), 4);
    let sequences = |claim: &evalboard_persistence::Claim| -> Vec<u32> {
        claim.items.iter().map(|i| i.sequence).collect()
    };
    // One of them is answered and waits for its judge.
    let answered = Outcome {
        run_id: run.clone(),
        sequence: 2,
        attempt: 1,
        started_at: at(6),
        kind: OutcomeKind::Answered {
            answer: answer("p", "The answer is (A).", at(6)),
            judgment: None,
        },
    };
    assert_eq!(
        db.apply_outcomes("w1", &[answered], at(6)).unwrap().applied,
        [true]
    );

    // w1 stops renewing. At 12 s only its first six claims have run out; four are still live,
    // so w1 may yet be alive: its expired items are taken over, no resume counted.
    let taken = claim("w2", 2, 12, 30);
    assert_eq!(sequences(&taken), [1, 3]);
    assert_eq!(taken.run.lifecycle.resumed_count, 0);
    assert!(taken.gone_workers.is_empty());
    // At 16 s none of w1's claims is live: w1 is gone, one resume, and its items are taken over
    // by as many claims as it takes — counted once. The claim that found it gone says so (the
    // server logs it).
    let found = claim("w2", 3, 16, 30);
    assert_eq!(
        found.gone_workers,
        [evalboard_persistence::GoneWorker {
            name: "w1".into(),
            items: 8
        }]
    );
    let mut taken_over = sequences(&found);
    let after = db.get_run(&run).unwrap().lifecycle;
    assert_eq!(
        (after.resumed_count, after.last_resumed_at),
        (1, Some(at(16)))
    );
    for seconds in 17..20 {
        taken_over.extend(sequences(&claim("w3", 3, seconds, 30)));
    }
    taken_over.sort_unstable();
    assert_eq!(taken_over[..8], [2, 4, 5, 6, 7, 8, 9, 10], "{taken_over:?}");
    let run_now = db.get_run(&run).unwrap();
    assert_eq!(run_now.lifecycle.resumed_count, 1);
    // w1's late answers change nothing: its claims are no longer its own.
    let late = Outcome {
        run_id: run.clone(),
        sequence: 4,
        attempt: 1,
        started_at: at(17),
        kind: OutcomeKind::Started,
    };
    assert_eq!(
        db.apply_outcomes("w1", &[late], at(17)).unwrap().applied,
        [false]
    );

    // Now w2 and w3 die: w4 finds both gone in one claim, two resumes.
    let taken = claim("w4", 1, 100, 30);
    assert_eq!(taken.items.len(), 1);
    assert_eq!(taken.run.lifecycle.resumed_count, 3);
    let mut gone: Vec<&str> = taken.gone_workers.iter().map(|w| w.name.as_str()).collect();
    gone.sort_unstable();
    assert_eq!(gone, ["w2", "w3"]);
    for seconds in 101..130 {
        claim("w4", 4, seconds, 30);
    }
    assert_eq!(db.get_run(&run).unwrap().lifecycle.resumed_count, 3);
    assert_eq!(db.get_run(&run).unwrap().counts, recount(db, &run));
}

/// While a run is active, reading it gives its latency percentiles from the histograms kept with
/// its answers (within 1 % of the exact ones), without reading its items; once finished, the
/// exact figures; after a retry, the answers its items hold (the kept ones and the new ones).
fn an_active_runs_latency_is_kept_with_its_answers(db: &TestDatabase) {
    use evalboard_domain::{LatencySummary, Verdict, extract_answer};
    use evalboard_persistence::{Answer, Judgment, Outcome, OutcomeKind};
    import(db, "Demo", &items(40));
    let run = create(db, "Demo", 0);
    // Claims what is open; returns the claimed items' attempt.
    let claim = |expected: usize, seconds: i64| {
        let claim = db
            .claim_items(&run, claim_request("w", 40, seconds, 100))
            .unwrap();
        assert_eq!(claim.items.len(), expected);
        claim.items[0].attempt
    };
    let fail = |sequences: std::ops::RangeInclusive<u32>, attempt: u32, seconds: i64| {
        let outcomes: Vec<Outcome> = sequences
            .map(|sequence| Outcome {
                run_id: run.clone(),
                sequence,
                attempt,
                started_at: at(seconds),
                kind: OutcomeKind::Failed {
                    error: evalboard_persistence::ItemError {
                        kind: "server_error".into(),
                        message: "500".into(),
                    },
                    prompt: format!("prompt {sequence}"),
                },
            })
            .collect();
        db.apply_outcomes("w", &outcomes, at(seconds)).unwrap();
    };
    // Answers to `sequences`, each sent at `sent` and taking `total_ms` + its sequence (its
    // first token a tenth of that).
    let answer =
        |sequences: std::ops::RangeInclusive<u32>, attempt: u32, sent: i64, total_ms: i64| {
            let outcomes: Vec<Outcome> = sequences
                .map(|sequence| {
                    let total = Duration::milliseconds(total_ms + i64::from(sequence));
                    Outcome {
                        run_id: run.clone(),
                        sequence,
                        attempt,
                        started_at: at(sent),
                        kind: OutcomeKind::Answered {
                            answer: Answer {
                                first_token_at: Some(at(sent) + total / 10),
                                ..answer(
                                    &format!("prompt {sequence}"),
                                    "The answer is (A).",
                                    at(sent) + total,
                                )
                            },
                            judgment: Some(Judgment {
                                verdict: Verdict::Correct,
                                extraction: extract_answer("The answer is (A).").into(),
                                judge: "choice".into(),
                                rationale: None,
                                at: at(sent + 1),
                                spent: None,
                            }),
                        },
                    }
                })
                .collect();
            let applied = db.apply_outcomes("w", &outcomes, at(sent + 1)).unwrap();
            assert!(
                applied.applied.iter().all(|&a| a),
                "answers sent at {sent} (attempt {attempt}) did not hold"
            );
        };
    let exact = |totals_ms: Vec<i64>| {
        let us = |ms: &i64| ms * 1_000;
        LatencySummary::from_samples(
            totals_ms.iter().map(|ms| us(ms) / 10).collect(),
            totals_ms.iter().map(us).collect(),
        )
    };
    let close = |kept: LatencySummary, exact: LatencySummary| {
        for (kept, exact) in [
            (kept.ttft_p50_us, exact.ttft_p50_us),
            (kept.ttft_p95_us, exact.ttft_p95_us),
            (kept.total_p50_us, exact.total_p50_us),
            (kept.total_p95_us, exact.total_p95_us),
        ] {
            let (kept, exact) = (kept.unwrap(), exact.unwrap());
            assert!(
                (kept - exact).abs() * 100 <= exact,
                "{kept} is not within 1 % of {exact}"
            );
        }
    };
    count_statements();
    let reader = evalboard_persistence::Database::connect(
        db.url(),
        &evalboard_persistence::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();

    let attempt = claim(40, 1);
    answer(1..=20, attempt, 2, 100);
    answer(21..=38, attempt, 3, 300);
    let (live, statements) = statements_of(|| reader.get_run_with_latency(&run).unwrap());
    assert!(live.status.is_active());
    let first: Vec<i64> = (1..=20)
        .map(|s| 100 + s)
        .chain((21..=38).map(|s| 300 + s))
        .collect();
    close(live.latency, exact(first.clone()));
    assert!(
        statements.iter().all(|s| !s.contains("run_items")),
        "reading an active run read its items: {statements:#?}"
    );
    fail(39..=40, attempt, 4);
    let finished = db.get_run_with_latency(&run).unwrap();
    assert_eq!(finished.status, RunStatus::Completed);
    assert_eq!(finished.latency, exact(first.clone()));

    // Retrying the failed items keeps the other answers: the histogram is built again from
    // the items (the 38 kept answers and the new one).
    db.retry_run(&run, RetryScope::Faulted, None, None, at(5))
        .unwrap();
    let attempt = claim(2, 6);
    answer(39..=39, attempt, 7, 700);
    let mut kept = first;
    kept.push(739);
    let live = reader.get_run_with_latency(&run).unwrap();
    assert!(live.status.is_active());
    close(live.latency, exact(kept.clone()));
    answer(40..=40, attempt, 8, 700);
    kept.push(740);
    let finished = db.get_run_with_latency(&run).unwrap();
    assert_eq!(finished.status, RunStatus::Completed);
    assert_eq!(finished.latency, exact(kept));

    // Retrying everything clears every answer: only the new ones count.
    db.retry_run(&run, RetryScope::All, None, None, at(10))
        .unwrap();
    let attempt = claim(40, 11);
    // (Items 1 to 38 are at their second attempt, 39 and 40 at their third.)
    answer(1..=38, attempt, 12, 50);
    let retried = reader.get_run_with_latency(&run).unwrap();
    assert!(retried.status.is_active());
    close(retried.latency, exact((1..=38).map(|s| 50 + s).collect()));

    // A cancel answers with the run as a read shows it: stopping (items 39 and 40 in flight),
    // with the latency of its answers so far (it answered with none).
    let canceled = db.request_cancel(&run, None, at(13)).unwrap();
    assert!(canceled.status.is_active());
    close(canceled.latency, exact((1..=38).map(|s| 50 + s).collect()));
}

/// On SQLite, where putting rows into one statement saves no round trip, the statements of a
/// run's hot path (claiming items, storing their sends, answers, verdicts, retries and failures
/// with the events and log lines they make) are each prepared once per connection, whatever the
/// number of items: a statement whose text depends on the batch's size is parsed and planned
/// again at every batch (docs/performance.md, point 1 of issue 14).
#[test]
fn on_sqlite_a_runs_hot_statements_are_prepared_once_per_connection() {
    use evalboard_domain::{Verdict, extract_answer};
    use evalboard_persistence::{Answer, ClaimedItem, ItemError, Judgment, Outcome, OutcomeKind};
    let db = TestDatabase::sqlite();
    import(&db, "Demo", &items(40));
    let run = create(&db, "Demo", 0);
    count_statements();
    let writer = evalboard_persistence::Database::connect(
        db.url(),
        &evalboard_persistence::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    // Claims `n` items, sends them, answers all but two (one retried, one failed).
    let cycle = |n: u32, seconds: i64| {
        let claimed = writer
            .claim_items(&run, claim_request("w", n, seconds, 100))
            .unwrap();
        assert_eq!(claimed.items.len(), n as usize);
        let outcome = |item: &ClaimedItem, kind| Outcome {
            run_id: run.clone(),
            sequence: item.sequence,
            attempt: item.attempt,
            started_at: at(seconds),
            kind,
        };
        let sent: Vec<Outcome> = claimed
            .items
            .iter()
            .map(|item| outcome(item, OutcomeKind::Started))
            .collect();
        assert!(
            writer
                .apply_outcomes("w", &sent, at(seconds))
                .unwrap()
                .applied
                .iter()
                .all(|&a| a)
        );
        let error = ItemError {
            kind: "server_error".into(),
            message: "500".into(),
        };
        let mut ended: Vec<Outcome> = claimed.items[2..]
            .iter()
            .map(|item| {
                let text = "The answer is (A).";
                outcome(
                    item,
                    OutcomeKind::Answered {
                        answer: Answer {
                            first_token_at: Some(at(seconds)),
                            ..answer(&item.prompt, text, at(seconds + 1))
                        },
                        judgment: Some(Judgment {
                            verdict: Verdict::Correct,
                            extraction: extract_answer(text).into(),
                            judge: "choice".into(),
                            rationale: None,
                            at: at(seconds + 1),
                            spent: None,
                        }),
                    },
                )
            })
            .collect();
        ended.push(outcome(
            &claimed.items[0],
            OutcomeKind::Retrying {
                error: error.clone(),
                delay_ms: 10,
            },
        ));
        ended.push(outcome(
            &claimed.items[1],
            OutcomeKind::Failed {
                error,
                prompt: claimed.items[1].prompt.clone(),
            },
        ));
        let applied = writer.apply_outcomes("w", &ended, at(seconds + 1)).unwrap();
        assert!(applied.applied.iter().all(|&a| a), "{applied:?}");
    };
    let cached = || CACHED.with(|cached| cached.borrow().clone());
    // The first cycle prepares each statement (and makes the run's first rows).
    cycle(3, 1);
    let before = cached();
    let ((), four) = statements_of(|| cycle(4, 10));
    let ((), seven) = statements_of(|| cycle(7, 20));
    let newly_cached: Vec<String> = cached().difference(&before).cloned().collect();
    assert!(
        newly_cached.is_empty(),
        "statements first prepared for 4 or 7 items: {newly_cached:#?}"
    );
    let texts = |statements: &[String]| statements.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        texts(&four),
        texts(&seven),
        "the statements' texts for 4 and for 7 items"
    );
    // What is parsed again: `BEGIN` and `COMMIT` (not prepared statements), and diesel's
    // `UPDATE` builder, whose statements it never keeps (their `SET` may vary with optional
    // values) — so those must be per transaction, not per item.
    let parsed = |statements: &[String]| -> Vec<String> {
        statements
            .iter()
            .filter(|sql| !["BEGIN IMMEDIATE", "COMMIT"].contains(&sql.as_str()))
            .filter(|sql| !CACHED.with(|cached| cached.borrow().contains(*sql)))
            .cloned()
            .collect()
    };
    let (for_four, for_seven) = (parsed(&four), parsed(&seven));
    for parsed in [&for_four, &for_seven] {
        assert!(
            parsed.iter().all(|sql| sql.starts_with("UPDATE ")),
            "prepared again for a batch of another size: {parsed:#?}"
        );
    }
    assert_eq!(
        for_four.len(),
        for_seven.len(),
        "statements parsed for 4 and for 7 items: {for_seven:#?}"
    );
}

/// A claim looks for answers waiting for a verdict only when the run's counters say there are
/// some, and for gone workers only when it met an expired claim: on the path every claim of a
/// healthy run takes, neither costs a statement.
fn a_claim_looks_for_unjudged_answers_and_gone_workers_only_where_there_are_some(
    db: &TestDatabase,
) {
    import(db, "Demo", &items(10));
    let run = create(db, "Demo", 0);
    count_statements();
    let claimer = evalboard_persistence::Database::connect(
        db.url(),
        &evalboard_persistence::PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    let claim = |worker: &str, seconds: i64| {
        statements_of(|| {
            claimer
                .claim_items(&run, claim_request(worker, 4, seconds, 30))
                .unwrap()
        })
    };
    let looks_for_owners =
        |statements: &[String]| statements.iter().any(|s| s.contains("DISTINCT"));
    let looks_for_unjudged = |statements: &[String]| {
        statements
            .iter()
            .any(|s| s.contains("\"lease_expires_at\" FROM"))
    };
    let (first, statements) = claim("w1", 1);
    assert_eq!(first.items.len(), 4);
    assert!(!looks_for_owners(&statements), "{statements:#?}");
    assert!(!looks_for_unjudged(&statements), "{statements:#?}");
    // w1's claims expire: the next claim takes its items over and counts one resume.
    let (taken, statements) = claim("w2", 100);
    assert_eq!(
        taken.items.iter().map(|i| i.sequence).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(looks_for_owners(&statements), "{statements:#?}");
    assert_eq!(taken.run.lifecycle.resumed_count, 1);
}

/// A worker that stops gives back what it holds: its items in flight go back to `pending`
/// (their attempt ended `released`), its unjudged answers stay `awaiting` with no claim, the
/// counters move with a `run_progress` event, the run's log says so, and another worker claims
/// them at once — long before the lease would run out — without a resume. A release by a worker
/// that does not hold an item changes nothing; in a run being canceled the items are canceled.
/// An attempt is in flight from its send, not its claim: one never sent (claimed ahead, or
/// waiting to be tried again) leaves no row when its item is canceled, and gives its number
/// back; one whose claim expired ends `lost` sent or not (its worker may still report on it),
/// and the next claim's is the next number.
fn attempts_are_in_flight_from_their_send(db: &TestDatabase) {
    use evalboard_persistence::{ItemError, ItemQuery, Outcome, OutcomeKind};
    import(db, "Demo", &items(6));
    let run = create(db, "Demo", 0);
    let claimed = db.claim_items(&run, claim_request("w", 4, 1, 300)).unwrap();
    assert_eq!(claimed.items.len(), 4);
    let outcome = |sequence: u32, attempt: u32, kind: OutcomeKind| Outcome {
        run_id: run.clone(),
        sequence,
        attempt,
        started_at: at(2),
        kind,
    };
    let retrying = || OutcomeKind::Retrying {
        error: ItemError {
            kind: "server_error".into(),
            message: "busy".into(),
        },
        delay_ms: 1_000,
    };
    // 1 sent; 2 sent, failed, its attempt 2 waiting; 3 claimed ahead; 4 failed, then its
    // attempt 2 sent — all in one batch.
    let applied = db
        .apply_outcomes(
            "w",
            &[
                outcome(1, 1, OutcomeKind::Started),
                outcome(2, 1, OutcomeKind::Started),
                outcome(2, 1, retrying()),
                outcome(4, 1, OutcomeKind::Started),
                outcome(4, 1, retrying()),
                outcome(4, 2, OutcomeKind::Started),
            ],
            at(3),
        )
        .unwrap();
    assert!(applied.applied.iter().all(|&a| a), "{applied:?}");
    let items = |db: &TestDatabase| db.run_items(&run, &ItemQuery::first(10)).unwrap().items;
    let sent: Vec<bool> = items(db)
        .iter()
        .take(4)
        .map(|item| item.started_at.is_some())
        .collect();
    assert_eq!(sent, [true, false, false, true]);

    db.request_cancel(&run, None, at(4)).unwrap();
    db.cancel_in_flight(&run, "w", at(5)).unwrap();
    type Attempts = Vec<(u32, Option<String>)>;
    let history: Vec<(u32, Attempts)> = items(db)
        .iter()
        .take(4)
        .map(|item| {
            (
                item.attempt_count,
                item.attempts
                    .iter()
                    .map(|a| (a.attempt, a.outcome.clone()))
                    .collect(),
            )
        })
        .collect();
    let ended = |attempt: u32, outcome: &str| (attempt, Some(outcome.to_owned()));
    assert_eq!(
        history,
        [
            (1, vec![ended(1, "canceled")]),
            // Its attempt 2 was never sent: no row, and the count is back at 1.
            (1, vec![ended(1, "error")]),
            (0, vec![]),
            (2, vec![ended(1, "error"), ended(2, "canceled")]),
        ]
    );

    // An expired claim: its attempt ends `lost`, sent or not.
    let other = create(db, "Demo", 10);
    db.claim_items(&other, claim_request("w1", 2, 11, 1))
        .unwrap();
    db.apply_outcomes(
        "w1",
        &[Outcome {
            run_id: other.clone(),
            sequence: 1,
            attempt: 1,
            started_at: at(12),
            kind: OutcomeKind::Started,
        }],
        at(12),
    )
    .unwrap();
    let taken = db
        .claim_items(&other, claim_request("w2", 2, 100, 300))
        .unwrap();
    let attempts: Vec<(u32, u32)> = taken
        .items
        .iter()
        .map(|i| (i.sequence, i.attempt))
        .collect();
    assert_eq!(attempts, [(1, 2), (2, 2)]);
    for item in db
        .run_items(&other, &ItemQuery::first(10))
        .unwrap()
        .items
        .iter()
        .take(2)
    {
        assert_eq!(
            item.attempts[0].outcome.as_deref(),
            Some("lost"),
            "{item:?}"
        );
        // Whose it was: the worker gone.
        assert_eq!(item.attempts[0].worker.as_deref(), Some("w1"), "{item:?}");
    }
}

/// A server restarted under its name after a crash, but unable to work the run (its provider's
/// key unset): what its previous run had in flight was lost, not given back on its drain, nor
/// refused for the reason the run then fails with.
fn a_crashed_servers_attempts_end_lost_whatever_its_restart_does(db: &TestDatabase) {
    use evalboard_persistence::{ItemQuery, Outcome, OutcomeKind};
    import(db, "Demo", &items(3));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w", 2, 1, 300)).unwrap();
    db.apply_outcomes(
        "w",
        &[Outcome {
            run_id: run.clone(),
            sequence: 1,
            attempt: 1,
            started_at: at(2),
            kind: OutcomeKind::Started,
        }],
        at(2),
    )
    .unwrap();
    // A live worker's claim that lapsed (the database out of reach longer than a lease) is
    // still its own to give back when it stops.
    let lapsed = create(db, "Demo", 1);
    db.claim_items(&lapsed, claim_request("w2", 1, 1, 1))
        .unwrap();
    assert_eq!(db.release_claims("w2", at(10)).unwrap(), 1);
    // The restart declares the previous run's claims expired; its drain gives none back.
    assert_eq!(db.expire_leases("w", at(5)).unwrap(), 2);
    assert_eq!(db.release_claims("w", at(6)).unwrap(), 0);
    assert_eq!(db.get_run(&run).unwrap().counts.running, 2);
    // The run fails for want of its key: the attempts in flight were lost, not refused.
    let generation = RunGeneration::of(&db.get_run(&run).unwrap());
    db.fail_run(
        &run,
        generation,
        "not_configured",
        "OPENAI_API_KEY is not set",
        at(7),
    )
    .unwrap()
    .expect("the run fails");
    let outcomes: Vec<Vec<(Option<String>, Option<String>)>> = db
        .run_items(&run, &ItemQuery::first(10))
        .unwrap()
        .items
        .iter()
        .map(|item| {
            item.attempts
                .iter()
                .map(|a| (a.outcome.clone(), a.error_kind.clone()))
                .collect()
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            vec![(Some("lost".to_owned()), None)],
            vec![(Some("lost".to_owned()), None)],
            vec![],
        ]
    );
}

fn a_stopping_worker_gives_its_claims_back_without_a_resume(db: &TestDatabase) {
    use evalboard_domain::{Verdict, extract_answer};
    use evalboard_persistence::{ItemQuery, Judgment, LogQuery, Outcome, OutcomeKind};
    import(db, "Demo", &items(10));
    let run = create(db, "Demo", 0);
    // Leases of five minutes: nothing below waits for one to run out.
    let claim = |worker: &str, max: u32, seconds: i64| {
        db.claim_items(&run, claim_request(worker, max, seconds, 300))
            .unwrap()
    };
    let sequences = |claim: &evalboard_persistence::Claim| -> Vec<u32> {
        claim.items.iter().map(|i| i.sequence).collect()
    };
    assert_eq!(sequences(&claim("w1", 4, 1)), [1, 2, 3, 4]);
    assert_eq!(sequences(&claim("w2", 2, 2)), [5, 6]);
    let outcome = |sequence: u32, kind: OutcomeKind| Outcome {
        run_id: run.clone(),
        sequence,
        attempt: 1,
        started_at: at(3),
        kind,
    };
    let answer = answer("p", "The answer is (A).", at(4));
    let judgment = Judgment {
        verdict: Verdict::Correct,
        extraction: extract_answer("The answer is (A).").into(),
        judge: "choice".into(),
        rationale: None,
        at: at(4),
        spent: None,
    };
    // w1: item 1 judged, item 2 answered and waiting for its judge, item 3 sent, item 4 claimed
    // ahead and never sent.
    let reported = db
        .apply_outcomes(
            "w1",
            &[
                outcome(
                    1,
                    OutcomeKind::Answered {
                        answer: answer.clone(),
                        judgment: Some(judgment),
                    },
                ),
                outcome(
                    2,
                    OutcomeKind::Answered {
                        answer: answer.clone(),
                        judgment: None,
                    },
                ),
                outcome(3, OutcomeKind::Started),
            ],
            at(4),
        )
        .unwrap();
    assert_eq!(reported.applied, [true, true, true]);
    let before = db.get_run(&run).unwrap();

    // A stale release: w2 holds none of w1's items.
    assert_eq!(
        db.release_items("w2", &run, &[1, 2, 3, 4], at(5)).unwrap(),
        0
    );
    assert_eq!(db.get_run(&run).unwrap(), before, "nothing changed");

    db.wait_for_events_to_settle();
    let last_event = db
        .events_after(Default::default(), None, 1_000)
        .unwrap()
        .last()
        .unwrap()
        .position;
    // w1 stops: items 2, 3 and 4 go back.
    assert_eq!(db.release_claims("w1", at(6)).unwrap(), 3);
    let released = db.get_run(&run).unwrap();
    assert_eq!(released.counts, recount(db, &run));
    assert_eq!(
        (
            released.counts.pending,
            released.counts.running,
            released.counts.awaiting,
            released.counts.correct
        ),
        (6, 2, 1, 1)
    );
    assert_eq!(released.lifecycle.resumed_count, 0);
    assert_eq!(released.lifecycle.last_resumed_at, None);
    let states: Vec<ItemState> = db
        .item_states(&run)
        .unwrap()
        .into_iter()
        .map(|(_, s)| s)
        .take(4)
        .collect();
    assert_eq!(
        states,
        [
            ItemState::Correct,
            ItemState::Awaiting,
            ItemState::Pending,
            ItemState::Pending
        ]
    );
    // The counters moved with a `run_progress` event.
    db.wait_for_events_to_settle();
    let progress: Vec<StateCounts> = db
        .events_after(last_event, None, 1_000)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.change {
            RunChange::Progress(counts) => Some(counts),
            _ => None,
        })
        .collect();
    assert_eq!(progress, [released.counts]);
    // The unfinished attempts ended `released`, by w1; the answer keeps its `answered` one.
    let page = db
        .run_items(
            &run,
            &ItemQuery {
                sequences: vec![2, 3, 4],
                ..ItemQuery::first(10)
            },
        )
        .unwrap();
    let attempts: Vec<Vec<(Option<&str>, Option<&str>)>> = page
        .items
        .iter()
        .map(|item| {
            item.attempts
                .iter()
                .map(|a| (a.outcome.as_deref(), a.worker.as_deref()))
                .collect()
        })
        .collect();
    assert_eq!(
        attempts,
        [
            vec![(Some("answered"), Some("w1"))],
            vec![(Some("released"), Some("w1"))],
            // Claimed, never sent: no attempt (the next claim's is its first).
            vec![],
        ]
    );
    assert_eq!(page.items[2].attempt_count, 0);
    let logs = db.query_logs(&run, &LogQuery::default(), 100).unwrap();
    assert!(
        logs.iter().any(|l| l.sequence.is_none()
            && l.message == "worker `w1` stopped: 3 item(s) released for another worker"),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.sequence == Some(3) && l.message.starts_with("attempt 1 released")),
        "{logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.message.contains("resumed")),
        "{logs:#?}"
    );

    // w3 claims at once, well within w1's lease: the unjudged answer (to judge only), then the
    // released items in sequence order, each at its next attempt (item 4's first: w1 never
    // sent it). Still no resume.
    let taken = claim("w3", 4, 7);
    assert_eq!(sequences(&taken), [2, 3, 4, 7]);
    let attempts: Vec<(u32, u32, bool)> = taken
        .items
        .iter()
        .map(|i| (i.sequence, i.attempt, i.answer.is_some()))
        .collect();
    assert_eq!(
        attempts,
        [(2, 1, true), (3, 2, false), (4, 1, false), (7, 1, false)]
    );
    assert_eq!(taken.run.lifecycle.resumed_count, 0);
    assert_eq!(taken.run.counts, recount(db, &run));
    // w1's late outcome changes nothing, nor does a second release by it.
    let late = outcome(
        3,
        OutcomeKind::Answered {
            answer,
            judgment: None,
        },
    );
    assert_eq!(
        db.apply_outcomes("w1", &[late], at(8)).unwrap().applied,
        [false]
    );
    assert_eq!(db.release_claims("w1", at(8)).unwrap(), 0);
    assert_eq!(db.release_items("w1", &run, &[2, 3, 4], at(8)).unwrap(), 0);
    assert_eq!(db.get_run(&run).unwrap().counts, taken.run.counts);

    // In a run being canceled nobody would claim them again: w3's items end canceled.
    db.request_cancel(&run, None, at(9)).unwrap();
    assert_eq!(db.release_claims("w3", at(10)).unwrap(), 4);
    let after = db.get_run(&run).unwrap();
    assert_eq!(after.counts, recount(db, &run));
    assert_eq!(
        (
            after.counts.running,
            after.counts.awaiting,
            after.counts.pending
        ),
        (2, 0, 0),
        "w2's items are still its own"
    );
    assert_eq!(db.release_claims("w2", at(11)).unwrap(), 2);
    let after = db.get_run(&run).unwrap();
    assert_eq!(after.status, RunStatus::Canceled);
    assert_eq!(after.lifecycle.resumed_count, 0);
}

/// On PostgreSQL a log entry whose transaction commits late (the engine's writer beside a
/// cancel request, or another replica) may come before one already committed in the log's
/// order: a reader polling the log with its cursor gets every entry once, the late one too.
#[test]
fn a_reader_polling_a_log_gets_an_entry_committed_late_once() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use evalboard_persistence::{LogCursor, LogQuery};
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    import(&db, "Demo", &items(2));
    let run = create(&db, "Demo", 0);
    let page = |after: &LogCursor| {
        let query = LogQuery {
            after: Some(after.clone()),
            ..Default::default()
        };
        db.log_page(&run, &query, 100).unwrap()
    };
    let first = db.log_page(&run, &LogQuery::default(), 100).unwrap();
    assert_eq!(first.entries.len(), 1, "the run's creation is logged");
    let insert = format!(
        "INSERT INTO run_logs (run_id, level, message, created_at) \
         VALUES ('{run}', 'info', $1, now())"
    );

    let (wrote, written) = std::sync::mpsc::channel();
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let url = db.url().to_owned();
    let holder = {
        let insert = insert.clone();
        std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                diesel::sql_query(&insert)
                    .bind::<diesel::sql_types::Text, _>("held")
                    .execute(conn)?;
                wrote.send(()).unwrap();
                finished.recv().unwrap();
                Ok(())
            })
            .unwrap();
        })
    };
    written.recv().unwrap();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    diesel::sql_query(&insert)
        .bind::<diesel::sql_types::Text, _>("later")
        .execute(&mut conn)
        .unwrap();
    // The later entry is read, but the cursor does not pass the held one's place.
    let polled = page(&first.next);
    let messages = |page: &evalboard_persistence::LogPage| {
        page.entries
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(&polled), ["later"]);
    let later = polled.entries[0].position;
    assert!(polled.next.after < later, "{:?}", polled.next);
    assert!(polled.next.seen.contains(&later), "{:?}", polled.next);

    finish.send(()).unwrap();
    holder.join().unwrap();
    // Polled until the cursor has passed both (other tests' transactions on the cluster may
    // keep it back for a moment): the held entry arrives, and nothing twice.
    let mut received = messages(&polled);
    let mut cursor = polled.next;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(received.len() >= 2 && cursor.seen.is_empty()) && std::time::Instant::now() < deadline {
        let next = page(&cursor);
        received.extend(messages(&next));
        cursor = next.next;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(received, ["later", "held"]);
    assert!(cursor.seen.is_empty(), "{cursor:?}");
    assert_eq!(page(&cursor).entries, []);
}

/// Item `sequence`'s first attempt answered "(A)", with some reasoning, cut off at the token
/// limit, and judged correct.
fn judged_answer(run: &RunId, sequence: u32, seconds: i64) -> evalboard_persistence::Outcome {
    use evalboard_domain::{Verdict, extract_answer};
    use evalboard_persistence::{Answer, Judgment, Outcome, OutcomeKind};
    Outcome {
        run_id: run.clone(),
        sequence,
        attempt: 1,
        started_at: at(seconds),
        kind: OutcomeKind::Answered {
            answer: Answer {
                reasoning_text: Some("Let me weigh A against B.".into()),
                cut_off: Some(evalboard_domain::CutOff::MaxTokens),
                ..answer("p", "The answer is (A).", at(seconds))
            },
            judgment: Some(Judgment {
                verdict: Verdict::Correct,
                extraction: extract_answer("The answer is (A).").into(),
                judge: "choice".into(),
                rationale: None,
                at: at(seconds),
                spent: None,
            }),
        },
    }
}

/// A run's count of answers cut off follows its answers on every path: stored many at once (on
/// PostgreSQL one statement for a batch's judged answers), judged again, reopened by a retry.
fn answers_cut_off_are_counted_as_they_are_stored_rejudged_and_retried(db: &TestDatabase) {
    use evalboard_domain::JudgeSettings;
    use evalboard_persistence::{OutcomeKind, RetryScope};
    import(db, "Demo", &items(4));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 4, 1, 300))
        .unwrap();
    let mut batch: Vec<_> = (1..=4)
        .map(|sequence| judged_answer(&run, sequence, 3))
        .collect();
    // The model ended the last one itself.
    if let OutcomeKind::Answered { answer, .. } = &mut batch[3].kind {
        answer.cut_off = None;
    }
    let applied = db.apply_outcomes("w1", &batch, at(3)).unwrap();
    assert_eq!(applied.applied, [true; 4]);
    let counted = |db: &TestDatabase| {
        let run = db.get_run(&run).unwrap();
        assert_eq!(run.cut_off, db.cut_off_count(&run.id).unwrap());
        run.cut_off
    };
    assert_eq!(counted(db), 3);
    // Judged again: the answers stay, and so does their count.
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(4))
        .unwrap();
    assert_eq!(counted(db), 3);
    // The re-judging canceled before any verdict (nothing was claimed: it ends at once), the
    // answers are still there; retried, every one is set aside.
    let canceled = db.request_cancel(&run, None, at(5)).unwrap();
    assert!(canceled.status.is_terminal(), "{:?}", canceled.status);
    assert_eq!(counted(db), 3);
    db.retry_run(&run, RetryScope::All, None, None, at(6))
        .unwrap();
    assert_eq!(counted(db), 0);
}

/// Verdicts the rules gave because the run's LLM judge gave none are counted as they are stored
/// (on PostgreSQL in one statement for the batch), each with a warning in the run's log, and
/// counted again when a re-judging sets the verdicts aside.
fn verdicts_an_llm_judge_did_not_give_are_counted_and_logged(db: &TestDatabase) {
    use evalboard_domain::JudgeSettings;
    use evalboard_persistence::{LogLevel, OutcomeKind};
    import(db, "Demo", &items(3));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 3, 1, 300))
        .unwrap();
    let why = "the LLM judge llm:Judge/m gave no verdict (server_error: 500); judged by extraction";
    let mut batch: Vec<_> = (1..=3)
        .map(|sequence| judged_answer(&run, sequence, 3))
        .collect();
    // The first item's verdict is the LLM judge's own, with its reasons; the others, the
    // rules' for it.
    for (index, outcome) in batch.iter_mut().enumerate() {
        let OutcomeKind::Answered {
            judgment: Some(judgment),
            ..
        } = &mut outcome.kind
        else {
            panic!("a judged answer");
        };
        if index == 0 {
            judgment.judge = "llm:Judge/m".into();
            judgment.rationale = Some("The response picks (A).".into());
            assert!(!judgment.is_fallback());
        } else {
            judgment.rationale = Some(why.into());
            assert!(judgment.is_fallback());
        }
    }
    let applied = db.apply_outcomes("w1", &batch, at(3)).unwrap();
    assert_eq!(applied.applied, [true; 3]);
    let counted = |db: &TestDatabase| {
        let run = db.get_run(&run).unwrap();
        assert_eq!(
            run.judge_fallbacks,
            db.judge_fallback_count(&run.id).unwrap()
        );
        run.judge_fallbacks
    };
    assert_eq!(counted(db), 2);
    let warnings: Vec<_> = db
        .run_logs(&run, None, 100)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.level == LogLevel::Warn)
        .map(|entry| (entry.sequence, entry.message))
        .collect();
    assert_eq!(
        warnings,
        [(Some(2), why.to_owned()), (Some(3), why.to_owned())]
    );
    // Judged again: the verdicts, and what they said of the judge, are set aside.
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(4))
        .unwrap();
    assert_eq!(counted(db), 0);
}

/// A retry of every item clears what the last dispatch left on the item, its reasoning and its
/// cut-off too:
/// a reopened item never shows a previous dispatch's result.
fn a_retried_item_keeps_nothing_of_its_last_answer(db: &TestDatabase) {
    use evalboard_persistence::{ItemQuery, RetryScope};
    import(db, "Demo", &items(1));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 1, 1, 300))
        .unwrap();
    db.apply_outcomes("w1", &[judged_answer(&run, 1, 3)], at(3))
        .unwrap();
    let item = |db: &TestDatabase| {
        db.run_items(&run, &ItemQuery::first(1))
            .unwrap()
            .items
            .remove(0)
    };
    let answered = item(db);
    assert!(answered.reasoning_text.is_some());
    assert_eq!(answered.cut_off, Some(evalboard_domain::CutOff::MaxTokens));
    assert!(db.get_run(&run).unwrap().latency.total_p50_us.is_some());
    let retried = db
        .retry_run(&run, RetryScope::All, None, None, at(4))
        .unwrap();
    // The latencies kept when it finished are dropped with the answers (the archive lists
    // the row's figures).
    assert_eq!(retried.latency, Default::default());
    let listed = db
        .list_runs(&evalboard_persistence::RunFilter::default(), None, 10)
        .unwrap();
    assert_eq!(listed.runs[0].latency, Default::default());
    let reopened = item(db);
    assert_eq!(reopened.state, ItemState::Pending);
    assert_eq!(
        (
            reopened.response_text,
            reopened.reasoning_text,
            reopened.cut_off
        ),
        (None, None, None)
    );
}

/// A re-judging canceled before any judge took an answer puts the run back as it was at once;
/// the next re-judging takes every answer again.
fn a_rejudging_canceled_at_once_leaves_the_run_as_it_was(db: &TestDatabase) {
    use evalboard_domain::JudgeSettings;
    import(db, "Demo", &items(3));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 3, 1, 300))
        .unwrap();
    let answers: Vec<_> = (1..=3).map(|s| judged_answer(&run, s, 2)).collect();
    db.apply_outcomes("w1", &answers, at(2)).unwrap();
    let before = db.get_run(&run).unwrap();
    assert_eq!(before.status, RunStatus::Completed);

    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(3))
        .unwrap();
    let canceled = db.request_cancel(&run, None, at(4)).unwrap();
    assert_eq!(canceled.status, RunStatus::Completed);
    assert_eq!(canceled.counts, before.counts);
    // Re-judgings started count it; the judging in force is the first.
    assert_eq!((canceled.rejudge_count, canceled.judging_round), (1, 0));

    let again = db
        .start_rejudge(&run, &JudgeSettings::Choice, None, at(5))
        .unwrap();
    assert_eq!(again.status, RunStatus::Pending);
    assert_eq!(
        (
            again.counts.awaiting,
            again.rejudge_count,
            again.judging_round
        ),
        (3, 2, 2)
    );

    // Canceled while a judge holds two answers: the run stops once the judge lets them go,
    // and only then goes back as it was.
    db.claim_items(&run, claim_request("judge", 2, 6, 300))
        .unwrap();
    let stopping = db.request_cancel(&run, None, at(7)).unwrap();
    assert_eq!(
        (
            stopping.status,
            stopping.counts.awaiting,
            stopping.counts.canceled
        ),
        (RunStatus::Running, 2, 1),
        "the judge's two answers are in flight"
    );
    let undone = db.cancel_in_flight(&run, "judge", at(8)).unwrap();
    assert_eq!(undone.status, RunStatus::Completed);
    assert_eq!(undone.counts, before.counts);
    assert_eq!((undone.rejudge_count, undone.judging_round), (2, 0));
}

/// A re-judging by an LLM judge canceled half-way puts the run back as it was before it: every
/// item's verdict (and a failed item's failure), the judge, the fingerprint, the status and
/// failure, the re-judge count and the counters; the verdicts it gave stay in the items'
/// history, marked undone; what its judge spent stays in the totals. A failed re-judging does
/// the same, and a later re-judging that finishes holds.
fn a_rejudging_canceled_half_way_puts_the_run_back_as_it_was(db: &TestDatabase) {
    use evalboard_domain::{JudgeSettings, Verdict};
    use evalboard_persistence::OutcomeKind;
    import(db, "Demo", &items(4));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 4, 1, 300))
        .unwrap();
    // Three judged; the fourth waits for its judge when the run fails: failed, holding its
    // answer.
    let mut answers: Vec<_> = (1..=4).map(|s| judged_answer(&run, s, 2)).collect();
    if let OutcomeKind::Answered { judgment, .. } = &mut answers[3].kind {
        *judgment = None;
    }
    db.apply_outcomes("w1", &answers, at(2)).unwrap();
    let generation = RunGeneration::of(&db.get_run(&run).unwrap());
    db.fail_run(&run, generation, "judge_not_configured", "no judge", at(3))
        .unwrap()
        .unwrap();
    let before = db.get_run(&run).unwrap();
    assert_eq!(before.status, RunStatus::Failed);
    let items_of = |db: &TestDatabase| db.run_items(&run, &ItemQuery::first(4)).unwrap().items;
    let items_before = items_of(db);
    assert_eq!(items_before[3].state, ItemState::Failed);

    let llm = JudgeSettings::Llm {
        provider_name: "J".into(),
        model_name: "m".into(),
    };
    let rejudging = db.start_rejudge(&run, &llm, None, at(4)).unwrap();
    assert_eq!((rejudging.counts.awaiting, rejudging.rejudge_count), (4, 1));
    // A judge takes two answers and calls both wrong, paying for it; then the cancel.
    let claim = db
        .claim_items(&run, claim_request("judge", 2, 5, 300))
        .unwrap();
    let spent = evalboard_domain::JudgeSpend {
        usage: evalboard_domain::TokenUsage {
            prompt_tokens: Some(100),
            completion_tokens: Some(10),
            reasoning_tokens: None,
        },
        cost_usd: Some(0.5),
    };
    let verdicts = verdicts_on(
        &run,
        &claim.items,
        Verdict::Incorrect,
        "llm:J/m",
        Some(spent),
        5,
    );
    let judged: Vec<u32> = claim.items.iter().map(|item| item.sequence).collect();
    assert_eq!(judged.len(), 2);
    db.apply_outcomes("judge", &verdicts, at(5)).unwrap();
    let halfway = db.get_run(&run).unwrap();
    assert_eq!(halfway.counts.incorrect, before.counts.incorrect + 2);
    let undone = db.request_cancel(&run, None, at(6)).unwrap();

    // As before the re-judging.
    assert_eq!(undone.status, RunStatus::Failed);
    assert_eq!(undone.failure, before.failure);
    assert_eq!(undone.counts, before.counts);
    assert_eq!(undone.settings.judge, before.settings.judge);
    assert_eq!(undone.fingerprint, before.fingerprint);
    assert_eq!((undone.rejudge_count, undone.judging_round), (1, 0));
    assert_eq!(
        undone.finished_at, before.finished_at,
        "it ended when it ended before"
    );
    assert_eq!(undone.lifecycle.cancel_requested_at, None);
    assert_eq!(undone.unparsed, before.unparsed);
    assert_eq!(undone.judge_fallbacks, before.judge_fallbacks);
    assert_eq!(
        undone.usage.judge.cost_usd,
        Some(1.0),
        "what the judge spent was paid"
    );
    let items_after = items_of(db);
    for (was, is) in items_before.iter().zip(&items_after) {
        assert_eq!(
            (
                &was.state,
                &was.extracted_answer,
                &was.extraction_tier,
                &was.judge,
                &was.judge_rationale,
                &was.error,
                &was.judged_at,
                &was.finished_at,
                &was.response_text,
            ),
            (
                &is.state,
                &is.extracted_answer,
                &is.extraction_tier,
                &is.judge,
                &is.judge_rationale,
                &is.error,
                &is.judged_at,
                &is.finished_at,
                &is.response_text,
            ),
            "item {}",
            was.sequence
        );
        // The canceled round's verdicts are kept, marked undone.
        let history: Vec<(u32, bool, &str)> = is
            .judgments
            .iter()
            .map(|j| (j.round, j.undone, j.judge.as_str()))
            .collect();
        let expected: Vec<(u32, bool, &str)> = match (was.sequence, judged.contains(&was.sequence))
        {
            (4, true) => vec![(1, true, "llm:J/m")],
            (4, false) => vec![],
            (_, true) => vec![(0, false, "choice"), (1, true, "llm:J/m")],
            (_, false) => vec![(0, false, "choice")],
        };
        assert_eq!(history, expected, "item {}", was.sequence);
    }
    assert!(
        db.run_logs(&run, None, 100)
            .unwrap()
            .iter()
            .any(|l| l.message.contains(
                "re-judging 1 canceled before it finished: the run is back to the verdicts of"
            )),
        "the log says so"
    );

    // Failed half-way (its LLM judge refused), a re-judging leaves the run as it was too.
    db.start_rejudge(&run, &llm, None, at(7)).unwrap();
    let generation = RunGeneration::of(&db.get_run(&run).unwrap());
    let failed = db
        .fail_run(
            &run,
            generation,
            "judge_refused",
            "401 from the judge",
            at(8),
        )
        .unwrap()
        .unwrap();
    assert_eq!(failed.items_failed, 0);
    assert_eq!(failed.run.status, RunStatus::Failed);
    assert_eq!(failed.run.failure, before.failure);
    assert_eq!(failed.run.counts, before.counts);
    assert_eq!((failed.run.rejudge_count, failed.run.judging_round), (2, 0));

    // One that finishes holds: the verdicts are the new judge's, its round its own.
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(9))
        .unwrap();
    let finished = judge_queued_answers(db, &run, "judge", 10);
    assert_eq!((finished.rejudge_count, finished.judging_round), (3, 3));
    let rounds: Vec<(u32, bool)> = items_of(db)[0]
        .judgments
        .iter()
        .map(|j| (j.round, j.undone))
        .collect();
    assert_eq!(rounds.last(), Some(&(3, false)), "{rounds:?}");
    assert_eq!(finished.counts.correct, 4);
    assert!(finished.status.is_terminal());
}

/// A run that fails while answers wait for their (LLM) judge ends them `failed` with their
/// answers kept; a re-judging takes them, rather than leaving a retry (which would ask the
/// model again) as the only way to a verdict.
fn answers_of_a_failed_run_not_judged_yet_are_judged_by_a_rejudging(db: &TestDatabase) {
    use evalboard_domain::JudgeSettings;
    import(db, "Demo", &items(3));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 3, 1, 300))
        .unwrap();
    let waiting: Vec<_> = (1..=2)
        .map(|s| {
            let mut answer = judged_answer(&run, s, 2);
            if let evalboard_persistence::OutcomeKind::Answered { judgment, .. } = &mut answer.kind
            {
                *judgment = None;
            }
            answer
        })
        .collect();
    db.apply_outcomes("w1", &waiting, at(2)).unwrap();
    assert_eq!(db.get_run(&run).unwrap().counts.awaiting, 2);
    let generation = RunGeneration::of(&db.get_run(&run).unwrap());
    let failed = db
        .fail_run(&run, generation, "judge_not_configured", "no judge", at(3))
        .unwrap()
        .unwrap()
        .run;
    assert_eq!(
        (failed.status, failed.counts.failed),
        (RunStatus::Failed, 3)
    );

    let again = db
        .start_rejudge(&run, &JudgeSettings::Choice, None, at(4))
        .unwrap();
    assert_eq!(
        (again.counts.awaiting, again.counts.failed),
        (2, 1),
        "the two answers, not the item that had none"
    );
    let items = db.run_items(&run, &ItemQuery::first(3)).unwrap().items;
    let requeued = &items[0];
    assert_eq!(requeued.state, ItemState::Awaiting);
    assert!(requeued.response_text.is_some());
    assert_eq!(
        requeued.error, None,
        "its failure is no longer where it stands"
    );
    // Judged, the two answers leave the item that had none failed: the run ends as its
    // answering did, failed for its reason.
    let ended = judge_queued_answers(db, &run, "w2", 5);
    assert_eq!(
        (ended.status, ended.counts.correct, ended.counts.failed),
        (RunStatus::Failed, 2, 1)
    );
    let failure = ended.failure.unwrap();
    assert_eq!(
        (failure.kind.as_str(), failure.message.as_str()),
        ("judge_not_configured", "no judge")
    );
}

/// Claims every answer a re-judging queued of `run` (as worker `worker`, at `seconds`) and
/// stores a verdict on each, as the engine does; returns the run as it is then.
fn judge_queued_answers(
    db: &TestDatabase,
    run: &RunId,
    worker: &str,
    seconds: i64,
) -> evalboard_domain::Run {
    use evalboard_domain::Verdict;
    let claim = db
        .claim_items(run, claim_request(worker, 100, seconds, 300))
        .unwrap();
    assert!(claim.items.iter().all(|item| item.answer.is_some()));
    let verdicts = verdicts_on(run, &claim.items, Verdict::Correct, "choice", None, seconds);
    db.apply_outcomes(worker, &verdicts, at(seconds)).unwrap();
    db.get_run(run).unwrap()
}

/// A judge's `verdict` on each of the claimed `items` of `run` at `seconds`, by `judge`,
/// spending `spent` on each.
fn verdicts_on(
    run: &RunId,
    items: &[evalboard_persistence::ClaimedItem],
    verdict: evalboard_domain::Verdict,
    judge: &str,
    spent: Option<evalboard_domain::JudgeSpend>,
    seconds: i64,
) -> Vec<evalboard_persistence::Outcome> {
    use evalboard_persistence::{Judgment, Outcome, OutcomeKind};
    items
        .iter()
        .map(|item| Outcome {
            run_id: run.clone(),
            sequence: item.sequence,
            attempt: item.attempt,
            started_at: at(seconds),
            kind: OutcomeKind::Judged(Judgment {
                verdict,
                extraction: evalboard_domain::extract_answer(item.answer.as_deref().unwrap())
                    .into(),
                judge: judge.into(),
                // The rules give no reasons; an LLM judge does.
                rationale: spent.is_some().then(|| "Not what the key says.".into()),
                at: at(seconds),
                spent,
            }),
        })
        .collect()
}

/// An LLM judge's verdict that no longer applies (its item was canceled while the judge
/// answered) is dropped, but what the judge's replies used is the run's all the same.
fn a_dropped_verdict_still_counts_what_its_judge_spent(db: &TestDatabase) {
    use evalboard_domain::{JudgeSpend, TokenUsage, Verdict, extract_answer};
    use evalboard_persistence::{Judgment, Outcome, OutcomeKind};
    import(db, "Demo", &items(1));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 1, 1, 300))
        .unwrap();
    let mut answer = judged_answer(&run, 1, 2);
    if let OutcomeKind::Answered { judgment, .. } = &mut answer.kind {
        *judgment = None;
    }
    db.apply_outcomes("w1", &[answer], at(2)).unwrap();
    db.request_cancel(&run, None, at(3)).unwrap();
    let canceled = db.cancel_in_flight(&run, "w1", at(4)).unwrap();
    assert_eq!(canceled.status, RunStatus::Canceled);
    let spent = JudgeSpend {
        usage: TokenUsage {
            prompt_tokens: Some(300),
            completion_tokens: Some(20),
            reasoning_tokens: None,
        },
        cost_usd: Some(0.25),
    };
    let verdict = Outcome {
        run_id: run.clone(),
        sequence: 1,
        attempt: 1,
        started_at: at(5),
        kind: OutcomeKind::Judged(Judgment {
            verdict: Verdict::Correct,
            extraction: extract_answer("The answer is (A).").into(),
            judge: "llm:Stub/m".into(),
            rationale: Some("late".into()),
            at: at(5),
            spent: Some(spent),
        }),
    };
    let applied = db.apply_outcomes("w1", &[verdict], at(5)).unwrap();
    assert_eq!(applied.applied, [false], "the verdict is dropped");
    let run = db.get_run(&run).unwrap();
    assert_eq!(run.counts.canceled, 1);
    assert_eq!(
        (
            run.usage.judge.prompt_tokens,
            run.usage.judge.completion_tokens,
            run.usage.judge.cost_usd
        ),
        (300, 20, Some(0.25))
    );
}

/// What an LLM judge's replies used for a judgment that never came is added to the run's
/// totals alone (no item, counter or verdict moves); a run that is gone is no error.
fn a_judges_spending_without_a_verdict_is_the_runs(db: &TestDatabase) {
    use evalboard_domain::{JudgeSpend, TokenUsage};
    import(db, "Demo", &items(2));
    let run = create(db, "Demo", 0);
    let spend = JudgeSpend {
        usage: TokenUsage {
            prompt_tokens: Some(120),
            completion_tokens: Some(9),
            reasoning_tokens: None,
        },
        cost_usd: Some(0.5),
    };
    db.add_judge_spend(&run, &spend).unwrap();
    db.add_judge_spend(&run, &spend).unwrap();
    let after = db.get_run(&run).unwrap();
    assert_eq!(
        (
            after.usage.judge.prompt_tokens,
            after.usage.judge.completion_tokens,
            after.usage.judge.cost_usd
        ),
        (240, 18, Some(1.0))
    );
    assert_eq!(
        after.usage.total_tokens(),
        0,
        "the answers' figures are untouched"
    );
    assert_eq!(after.counts.pending, 2);
    db.add_judge_spend(&RunId::generate(), &spend).unwrap();
}

/// A re-judging changes verdicts, not which items were answered: a run its budget stopped,
/// re-judged (twice), ends `canceled` for its budget again, not `completed` with items never
/// sent; once a retry answered every item, a re-judging ends it `completed`.
fn a_rejudging_ends_a_run_as_its_answering_did(db: &TestDatabase) {
    use evalboard_domain::{BUDGET_EXHAUSTED, JudgeSettings};
    import(db, "Demo", &items(4));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 2, 1, 300))
        .unwrap();
    let reason = "the budget of 10 tokens is spent (12 used)";
    db.stop_for_budget(&run, reason, at(2)).unwrap();
    let answers: Vec<_> = (1..=2).map(|s| judged_answer(&run, s, 3)).collect();
    db.apply_outcomes("w1", &answers, at(3)).unwrap();
    let stopped = db.get_run(&run).unwrap();
    assert_eq!(
        (stopped.status, stopped.counts.canceled),
        (RunStatus::Canceled, 2)
    );
    let failure = stopped.failure.clone().unwrap();
    assert_eq!(
        (failure.kind.as_str(), failure.message.as_str()),
        (BUDGET_EXHAUSTED, reason)
    );

    for round in 1..=2 {
        let rejudging = db
            .start_rejudge(&run, &JudgeSettings::Choice, None, at(4 + 2 * round))
            .unwrap();
        assert_eq!(
            rejudging.failure, None,
            "round {round}: no failure while it runs"
        );
        let ended = judge_queued_answers(db, &run, "w2", 5 + 2 * round);
        assert_eq!(
            (ended.status, ended.counts.correct, ended.counts.canceled),
            (RunStatus::Canceled, 2, 2),
            "round {round}"
        );
        assert_eq!(ended.failure, stopped.failure, "round {round}");
        assert_eq!(
            ended.lifecycle.cancel_requested_at, stopped.lifecycle.cancel_requested_at,
            "round {round}: when the stop was asked, too"
        );
        assert!(stopped.lifecycle.cancel_requested_at.is_some());
    }
    // A re-judging canceled leaves the run as it was (stopped by its budget); the next still
    // ends as the answering did.
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(10))
        .unwrap();
    let canceled = db.request_cancel(&run, None, at(11)).unwrap();
    assert_eq!(
        (canceled.status, canceled.failure, canceled.judging_round),
        (RunStatus::Canceled, stopped.failure.clone(), 2)
    );
    assert_eq!(
        canceled.lifecycle.cancel_requested_at,
        stopped.lifecycle.cancel_requested_at
    );
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(12))
        .unwrap();
    let ended = judge_queued_answers(db, &run, "w2", 13);
    assert_eq!(
        (ended.status, ended.counts.correct, ended.failure.clone()),
        (RunStatus::Canceled, 2, stopped.failure.clone())
    );
    let log = db
        .query_logs(&run, &evalboard_persistence::LogQuery::default(), 100)
        .unwrap();
    assert!(
        log.iter().any(|entry| entry.message
            == format!(
                "status running -> canceled: the re-judging is done; its answering had ended \
                 canceled: {reason}"
            )),
        "{log:#?}"
    );

    // Retried, every item is answered: the next re-judging completes the run.
    db.retry_run(&run, RetryScope::Faulted, None, None, at(20))
        .unwrap();
    db.claim_items(&run, claim_request("w3", 2, 21, 300))
        .unwrap();
    let answers: Vec<_> = (3..=4).map(|s| judged_answer(&run, s, 22)).collect();
    db.apply_outcomes("w3", &answers, at(22)).unwrap();
    assert_eq!(db.get_run(&run).unwrap().status, RunStatus::Completed);
    db.start_rejudge(&run, &JudgeSettings::Choice, None, at(23))
        .unwrap();
    let ended = judge_queued_answers(db, &run, "w3", 24);
    assert_eq!(
        (ended.status, ended.counts.correct),
        (RunStatus::Completed, 4)
    );
    assert_eq!(ended.failure, None);
}

/// A cancel announces each change once: the run's status, its counters and the items it
/// ended (the latest five), not again for each state of item it looked at; the end of the
/// items in flight likewise. (Until 2026-12-06 a cancel repeated its counters and its latest
/// items, once per state it canceled.)
fn a_cancel_announces_each_change_once(db: &TestDatabase) {
    use evalboard_domain::RunChange;
    import(db, "Demo", &items(8));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 2, 1, 300))
        .unwrap();
    let announced = |after| {
        db.wait_for_events_to_settle();
        let events = db.events_after(after, None, 1_000).unwrap();
        let last = events.last().map_or(after, |e| e.position);
        let mut statuses = Vec::new();
        let mut progress = Vec::new();
        let mut items = Vec::new();
        for event in events {
            match event.change {
                RunChange::Status { run, .. } => statuses.push(run.status),
                RunChange::Progress(counts) => progress.push(counts),
                RunChange::Item(item) => items.push((item.sequence, item.state)),
            }
        }
        (last, statuses, progress, items)
    };
    let (start, ..) = announced(Default::default());

    let stopping = db.request_cancel(&run, None, at(2)).unwrap();
    let (after_request, statuses, progress, items) = announced(start);
    assert_eq!(statuses, [stopping.status], "the cancel asked");
    assert_eq!(progress, [stopping.counts]);
    assert_eq!(stopping.counts.canceled, 6);
    assert_eq!(
        items,
        (4..=8)
            .map(|s| (s, ItemState::Canceled))
            .collect::<Vec<_>>(),
        "the latest five items canceled, once each"
    );

    let canceled = db.cancel_in_flight(&run, "w1", at(3)).unwrap();
    assert_eq!(canceled.status, RunStatus::Canceled);
    let (_, statuses, progress, items) = announced(after_request);
    assert_eq!(statuses, [RunStatus::Canceled]);
    assert_eq!(progress, [canceled.counts]);
    assert_eq!(items, [(1, ItemState::Canceled), (2, ItemState::Canceled)]);
}

/// A cancel asked of a run stopping for its budget stops its items in flight too: the run is
/// then being canceled as any other (no budget failure, which lets items in flight finish).
fn a_cancel_stops_what_a_budget_stop_lets_finish(db: &TestDatabase) {
    use evalboard_domain::BUDGET_EXHAUSTED;
    import(db, "Demo", &items(4));
    let run = create(db, "Demo", 0);
    db.claim_items(&run, claim_request("w1", 2, 1, 300))
        .unwrap();
    let stopping = db
        .stop_for_budget(&run, "the budget of 10 tokens is spent", at(2))
        .unwrap()
        .unwrap();
    assert_eq!(stopping.failure.unwrap().kind, BUDGET_EXHAUSTED);
    let canceled = db.request_cancel(&run, Some("alice"), at(3)).unwrap();
    assert_eq!(canceled.failure, None);
    assert!(canceled.lifecycle.cancel_requested_at.is_some());
    let being_canceled = db.runs_being_canceled().unwrap();
    let listed = being_canceled.iter().find(|r| r.id == run).unwrap();
    assert_eq!(
        listed.failure, None,
        "the engine aborts its items in flight"
    );
}

backend_tests!(
    a_judges_spending_without_a_verdict_is_the_runs,
    a_dropped_verdict_still_counts_what_its_judge_spent,
    a_worker_name_is_held_by_one_server_at_a_time,
    a_rejudging_ends_a_run_as_its_answering_did,
    a_stopping_worker_gives_its_claims_back_without_a_resume,
    a_crashed_servers_attempts_end_lost_whatever_its_restart_does,
    attempts_are_in_flight_from_their_send,
    a_cancel_stops_what_a_budget_stop_lets_finish,
    a_cancel_announces_each_change_once,
    runs_are_found_by_part_of_a_name,
    runs_are_listed_in_the_order_asked,
    a_run_evaluates_the_dataset_version_it_names,
    a_retried_item_keeps_nothing_of_its_last_answer,
    answers_cut_off_are_counted_as_they_are_stored_rejudged_and_retried,
    verdicts_an_llm_judge_did_not_give_are_counted_and_logged,
    a_rejudging_canceled_at_once_leaves_the_run_as_it_was,
    a_rejudging_canceled_half_way_puts_the_run_back_as_it_was,
    answers_of_a_failed_run_not_judged_yet_are_judged_by_a_rejudging,
    a_dead_workers_items_are_taken_over_as_one_resume,
    a_claim_looks_for_unjudged_answers_and_gone_workers_only_where_there_are_some,
    an_active_runs_latency_is_kept_with_its_answers,
    a_batch_of_outcomes_applies_in_one_transaction,
    concurrent_imports_under_one_name_get_distinct_versions,
    writers_in_separate_pools_wait_for_each_other,
    lost_connections_are_replaced,
    migrations_are_idempotent,
    datasets_import_version_and_list,
    creating_a_run_selects_items_and_records_it,
    invalid_runs_write_nothing,
    idempotency_keys_replay_the_first_run,
    concurrent_requests_with_one_key_make_one_run,
    runs_list_newest_first_with_filters_and_cursor,
    item_transitions_keep_counters_equal_to_rows,
    concurrent_transitions_on_one_run_lose_no_update,
    run_status_moves_follow_the_rules,
    a_failure_seen_before_a_retry_does_not_fail_the_retried_run,
    resuming_is_recorded_only_for_running_runs,
    active_runs_come_first_then_recently_finished,
    the_boards_statements_are_the_same_whatever_its_size,
    installation_secrets_are_made_once_and_shared,
    timestamps_keep_microseconds,
);

/// A worker name is held by one server at a time on PostgreSQL (another server asking for it
/// is refused, by name), given up when its holder goes, and taken again by [`keep`] when its
/// session was cut. SQLite leaves it to the data directory's lock.
///
/// [`keep`]: evalboard_persistence::WorkerNameHold::keep
fn a_worker_name_is_held_by_one_server_at_a_time(db: &TestDatabase) {
    let other = evalboard_persistence::Database::connect(db.url(), &Default::default()).unwrap();
    let held = db.hold_worker_name("replica-a").unwrap();
    assert_eq!(held.worker(), "replica-a");
    let again = other.hold_worker_name("replica-a");
    if db.backend() == evalboard_persistence::Backend::Sqlite {
        assert!(again.is_ok());
        return;
    }
    match again {
        Err(StoreError::Conflict(why)) => assert!(why.contains("`replica-a`"), "{why}"),
        Err(error) => panic!("{error}"),
        Ok(_) => panic!("two servers hold one worker name"),
    }
    let b = other.hold_worker_name("replica-b").unwrap();
    // Cut, the session gives the name up; the holder's next check takes it again.
    assert!(db.terminate_connections() > 0);
    held.keep().unwrap();
    assert!(matches!(
        other.hold_worker_name("replica-a"),
        Err(StoreError::Conflict(_))
    ));
    drop(held);
    drop(b);
    other.hold_worker_name("replica-a").unwrap();
}

/// A database a newer evalboard migrated (a downgrade, or an old replica restarted after
/// another migrated) is refused, naming the migrations this build does not know: the build
/// would run on it but not keep what they added (counters, silently wrong later).
#[test]
fn a_database_migrated_by_a_newer_build_is_refused() {
    use diesel::{Connection, connection::SimpleConnection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evalboard.db");
    let url = format!("sqlite://{}", path.display());
    let db = evalboard_persistence::Database::connect(&url, &Default::default()).unwrap();
    db.migrate().unwrap();
    assert_eq!(db.migrate().unwrap(), Vec::<String>::new(), "nothing left");
    let mut newer = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    newer
        .batch_execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000001')")
        .unwrap();
    match db.migrate() {
        Err(StoreError::Migration(why)) => assert!(
            why.contains("migrated by a newer evalboard: 1 migration(s)")
                && why.contains("(29991231000001)"),
            "{why}"
        ),
        other => panic!("ran on a newer database: {other:?}"),
    }
}

/// A database that holds tables evalboard did not make (`DATABASE_URL` set for another
/// application) is not migrated: the refusal names them, and no table of evalboard's is
/// created among them.
#[test]
fn a_database_holding_other_applications_tables_is_not_migrated() {
    use diesel::{Connection, RunQueryDsl, connection::SimpleConnection};
    let refused = |url: &str| {
        let db = evalboard_persistence::Database::connect(url, &Default::default()).unwrap();
        match db.migrate() {
            Err(StoreError::Migration(why)) => {
                assert!(
                    why.contains("tables evalboard did not make (invoices, orders)"),
                    "{why}"
                );
            }
            other => panic!("migrated a foreign database: {other:?}"),
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let mut shop = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    shop.batch_execute("CREATE TABLE orders (id INTEGER); CREATE TABLE invoices (id INTEGER);")
        .unwrap();
    refused(&format!("sqlite://{}", path.display()));
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables: Count = diesel::sql_query("SELECT count(*) AS n FROM sqlite_master")
        .get_result(&mut shop)
        .unwrap();
    assert_eq!(tables.n, 2, "nothing of evalboard's was created");

    let Ok(server) = std::env::var(evalboard_persistence::testing::POSTGRES_URL_ENV) else {
        return;
    };
    let schema = format!("shop_{}", uuid::Uuid::now_v7().simple());
    let mut admin = diesel::PgConnection::establish(&server).unwrap();
    // A view (as an extension such as pg_stat_statements makes) is not a table.
    let viewed = format!("viewed_{}", uuid::Uuid::now_v7().simple());
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {viewed}; CREATE VIEW {viewed}.statements AS SELECT 1 AS n;"
        ))
        .unwrap();
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-c%20search_path%3D{viewed}");
    evalboard_persistence::Database::connect(&url, &Default::default())
        .unwrap()
        .migrate()
        .expect("a schema with only a view is migrated");
    admin
        .batch_execute(&format!("DROP SCHEMA {viewed} CASCADE"))
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id int); \
             CREATE TABLE {schema}.invoices (id int);"
        ))
        .unwrap();
    refused(&format!(
        "{server}{separator}options=-c%20search_path%3D{schema}"
    ));
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
