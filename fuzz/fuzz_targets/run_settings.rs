//! Run settings on any bytes: read as `POST /runs` reads `settings` (`RunSettingsDto`, unknown
//! fields refused), converted and validated as the handler does, completed with the server's
//! defaults and stored as JSON, the selection applied to a small dataset; and read as the stored
//! form is read back (`RunSettings`, unknown fields ignored).

#![no_main]

use evalboard_api::dto::RunSettingsDto;
use evalboard_domain::{
    Fingerprint, PROMPT_TEMPLATE, RunSettings, SettingsDefaults, ValidationErrors,
};
use libfuzzer_sys::fuzz_target;

/// `(id, category)` of the dataset selections are applied to.
const ITEMS: [(&str, &str); 8] = [
    ("1", "math"),
    ("2", "law"),
    ("3", "math"),
    ("q4", "physics"),
    ("q5", "computer science"),
    ("6", "law"),
    ("7", "math"),
    ("ü8", "physics"),
];

fuzz_target!(|data: &[u8]| {
    if let Ok(dto) = serde_json::from_slice::<RunSettingsDto>(data) {
        let settings = RunSettings::from(dto);
        match settings.validate() {
            Ok(()) => check_accepted(&settings),
            Err(errors) => check_refused(&errors),
        }
    }
    if let Ok(stored) = serde_json::from_slice::<RunSettings>(data) {
        let _ = stored.validate();
        let _ = stored.judge_label();
        let _ = RunSettingsDto::from(&stored);
    }
});

/// What holds of settings the API accepts.
fn check_accepted(settings: &RunSettings) {
    // What the API shows of them (`GET /runs/{id}`), sent back, is the same settings.
    let shown = RunSettingsDto::from(settings);
    assert_eq!(&RunSettings::from(shown), settings, "shown and sent back");

    for simulated in [false, true] {
        let defaults = SettingsDefaults {
            concurrency: 8,
            max_attempts: 3,
            max_tokens: Some(4096),
            simulated,
        };
        let effective = settings.with_defaults(&defaults);
        // The server's (valid) defaults do not make valid settings invalid.
        if let Err(errors) = effective.validate() {
            panic!("valid settings, with the defaults, are not: {errors:?}");
        }
        // The stored form reads back as stored.
        let stored = serde_json::to_string(&effective).unwrap();
        let read: RunSettings = serde_json::from_str(&stored).unwrap();
        assert_eq!(read, effective, "stored as {stored}");
        let fingerprint = Fingerprint::new(
            &effective,
            "sha256:00",
            PROMPT_TEMPLATE,
            "sim-1",
            "simulated",
            None,
        );
        let _ = serde_json::to_string(&fingerprint).unwrap();
    }

    let selection = &settings.selection;
    if let Ok(chosen) = selection.apply("settings.selection", ITEMS) {
        assert!(
            chosen.windows(2).all(|c| c[0] < c[1]),
            "not in dataset order"
        );
        assert!(chosen.iter().all(|&i| i < ITEMS.len()));
        if let Some(n) = selection.sample_size {
            assert!(chosen.len() <= n as usize);
        }
        if let Some(categories) = &selection.categories {
            assert!(
                chosen
                    .iter()
                    .all(|&i| categories.iter().any(|c| c == ITEMS[i].1))
            );
        }
        // Deterministic.
        assert_eq!(
            selection.apply("settings.selection", ITEMS).ok(),
            Some(chosen)
        );
    }
}

/// Refusals name fields under `settings.`, each with a message.
fn check_refused(errors: &ValidationErrors) {
    assert!(!errors.0.is_empty(), "refused without an error");
    for error in &errors.0 {
        assert!(error.field.starts_with("settings."), "{error:?}");
        assert!(!error.message.is_empty());
    }
}
