//! What a run's fingerprint would be if it were made now, and what changed since it was: a
//! retry or a resume must not silently continue a run under another configuration.

use evalboard_domain::{Fingerprint, Run, prompt_template, template_kind};

use crate::providers::Provider;

/// The failure kind of a run the engine would not resume: its configuration changed.
pub const CONFIGURATION_CHANGED: &str = "configuration_changed";

/// The fingerprint `run` would get now, on `provider` as configured today, with this evalboard.
pub fn fingerprint_now(run: &Run, provider: &Provider) -> Fingerprint {
    let mut now = Fingerprint::new(
        &run.settings,
        &run.dataset_digest,
        // Today's template for the run's kind of items (which its recorded template tells).
        prompt_template(
            run.fingerprint
                .as_ref()
                .map_or(evalboard_domain::AnswerKind::Choice, |f| {
                    template_kind(&f.prompt_template)
                }),
        ),
        &run.model_name,
        provider.kind.as_str(),
        provider.base_url.as_deref(),
    );
    // Fields the run's own settings decide, which nothing changes underneath it: as recorded
    // (a run fingerprinted before they were has none, and has not changed for it).
    if let Some(recorded) = &run.fingerprint {
        now.shots_from = recorded.shots_from.clone();
        now.cache = recorded.cache;
    }
    now
}

/// What changed underneath `run` since its fingerprint was recorded, for people (`None` when
/// nothing did, or the run has no fingerprint): each field with its old and new value, and the
/// fingerprint to record should the run go on anyway.
///
/// The evalboard version alone is not such a change: replicas are upgraded one at a time, and
/// what a new version changes in how results come about is fingerprinted on its own (the prompt
/// template's version). It still makes the digest differ, so comparisons see it.
pub fn configuration_changes(run: &Run, provider: &Provider) -> Option<(Fingerprint, String)> {
    let recorded = run.fingerprint.as_ref()?;
    let now = fingerprint_now(run, provider);
    let changed: Vec<&str> = recorded
        .differences(&now)
        .into_iter()
        .filter(|field| *field != "evalboardVersion")
        .collect();
    if changed.is_empty() {
        return None;
    }
    let (was, is) = (json_fields(recorded), json_fields(&now));
    let described: Vec<String> = changed
        .iter()
        .map(|field| {
            format!(
                "{field} (was {}, now {})",
                was.get(*field).map_or("-".into(), ToString::to_string),
                is.get(*field).map_or("-".into(), ToString::to_string)
            )
        })
        .collect();
    Some((now, described.join(", ")))
}

fn json_fields(fingerprint: &Fingerprint) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(fingerprint) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    }
}
