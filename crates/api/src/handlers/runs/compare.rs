//! `GET /runs/compare`: two to eight runs over one dataset, compared item by item against the
//! first.

use actix_web::{get, web};
use evalboard_domain::{
    Run, RunId, ValidationErrors,
    compare::{Comparison, compare_runs},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::items::category_name;
use crate::{
    dto::{
        BreakdownDto, CategoryComparisonDto, ComparedRunDto, ComparisonDto, DatasetRefDto,
        FingerprintDto, FlippedItemDto, FlippedPageDto, LatencyDto, RunDto, RunUsageDto,
    },
    error::{ApiError, Problem},
    params::{bounded_int, shorten},
    state::AppState,
};

/// Most runs one comparison takes.
const MAX_RUNS: usize = 8;

/// Query of `GET /runs/compare`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CompareQuery {
    /// 2 to 8 distinct run ids, comma-separated; the first is the baseline.
    #[param(pattern = "^run-[0-9a-f]{32}(,run-[0-9a-f]{32}){1,7}$")]
    run_ids: String,
    /// Flipped items per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// `flipped.nextCursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Only the flipped items the baseline got `right` (another run got them wrong) or `wrong`
    /// (another run got them right); failed, canceled and unjudged items count as wrong.
    #[param(pattern = "^(right|wrong)$")]
    baseline: Option<String>,
    /// Only the flipped items of this category (the figures stay over every compared item).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{1,100}$")]
    category: Option<String>,
}

/// Which flipped items a page lists.
#[derive(Debug, Clone, Copy)]
struct FlippedFilter<'a> {
    /// Whether the baseline got them right; `None`: either.
    baseline_right: Option<bool>,
    /// Their category; `None`: any.
    category: Option<&'a str>,
}

impl FlippedFilter<'_> {
    fn keeps(&self, item: &evalboard_domain::compare::FlippedItem) -> bool {
        let right = item.runs[0].state == evalboard_domain::ItemState::Correct;
        self.baseline_right.is_none_or(|wanted| wanted == right)
            && self
                .category
                .is_none_or(|category| item.category == category)
    }
}

/// Runs compared on the dataset items they share: per run its accuracy (Wilson 95 % interval),
/// unparsed, faulted and unanswered counts; per run against the baseline the accuracy
/// difference (Newcombe's paired 95 % interval), the discordant counts and the exact McNemar
/// p-value, and the agreement; the same per category; and a page of the items whose verdict
/// flipped. Failed, canceled and unjudged items count as wrong. See docs/analysis.md.
#[utoipa::path(
    tag = "runs",
    params(CompareQuery),
    responses(
        (status = 200, description = "The comparison", body = ComparisonDto),
        (status = 400, description = "`runIds` is not 2 to 8 run ids, or another parameter is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A run does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The runs are of different datasets, `runIds` names a run twice, or `cursor` is not one this server issued for this listing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/compare")]
pub(crate) async fn compare(
    state: web::Data<AppState>,
    query: web::Query<CompareQuery>,
) -> Result<web::Json<ComparisonDto>, ApiError> {
    let query = query.into_inner();
    let ids = run_ids(&query.run_ids)?;
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 200, 50)? as usize;
    let baseline_right = match query.baseline.as_deref() {
        None => None,
        Some("right") => Some(true),
        Some("wrong") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "baseline",
                format!("must be right or wrong, got `{}`", shorten(other)),
            ));
        }
    };
    if let Some(category) = &query.category
        && !category_name(category)
    {
        return Err(ApiError::bad_parameter(
            "category",
            "must be a name of 1 to 100 characters, without control characters",
        ));
    }
    let filter = FlippedFilter {
        baseline_right,
        category: query.category.as_deref(),
    };
    let cursors = state.cursors().await?;
    // A page of flipped items continues the comparison of these runs, in this order, under
    // these filters.
    let scope = format!(
        "{}|{:?}|{:?}",
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        filter.baseline_right,
        filter.category
    );
    let after = query
        .cursor
        .as_deref()
        .map(|text| cursors.decode_flipped(&scope, text))
        .transpose()?;

    let (runs, items) = state
        .with_db(move |db| {
            let runs = ids
                .iter()
                .map(|id| db.get_run_with_latency(id))
                .collect::<Result<Vec<_>, _>>()?;
            // Different datasets are refused before their items are read.
            if runs
                .iter()
                .any(|run| run.dataset_name != runs[0].dataset_name)
            {
                return Ok((runs, None));
            }
            // Another version may keep an id for changed content: then read it, to tell.
            let versions_differ = runs
                .iter()
                .any(|run| run.dataset_version != runs[0].dataset_version);
            let items = ids
                .iter()
                .map(|id| db.compared_items(id, versions_differ))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((runs, Some(items)))
        })
        .await?;
    let Some(items) = items else {
        let names: Vec<String> = runs
            .iter()
            // The model names the run for a reader; the id, for a program.
            .map(|run| {
                format!(
                    "{} ({}) is of `{}`",
                    run.id,
                    shorten(&run.model_name),
                    shorten(&run.dataset_name)
                )
            })
            .collect();
        let mut errors = ValidationErrors::default();
        errors.push(
            "runIds",
            format!(
                "runs are compared on the items of one dataset: {}",
                names.join(", ")
            ),
        );
        return Err(ApiError::invalid(errors));
    };

    let comparison = compare_runs(&items);
    // A category no compared item is in filters nothing in: said (a warning, so that a page
    // left on a stale address still shows the comparison and its category choice), rather than
    // an empty page that reads as "no item flipped there" (a misspelt `Law` for `law`).
    let unknown_category = filter
        .category
        .filter(|category| {
            !comparison
                .categories
                .iter()
                .any(|(name, _)| name == category)
        })
        .map(|category| unknown_category(category, &comparison));
    let run_ids: Vec<String> = runs.iter().map(|run| run.id.to_string()).collect();
    let matching: Vec<_> = comparison
        .flipped
        .iter()
        .filter(|item| filter.keeps(item))
        .collect();
    let remaining: Vec<_> = matching
        .iter()
        .copied()
        .filter(|item| after.is_none_or(|after| item.runs[0].sequence > after))
        .collect();
    let page = &remaining[..remaining.len().min(limit)];
    let next_cursor = (remaining.len() > limit)
        .then(|| {
            page.last()
                .map(|item| cursors.encode_flipped(&scope, item.runs[0].sequence))
        })
        .flatten();
    Ok(web::Json(ComparisonDto {
        baseline_run_id: run_ids[0].clone(),
        compared: comparison.compared,
        runs: runs
            .iter()
            .zip(&comparison.left_out)
            .map(|(run, left_out)| ComparedRunDto {
                run: RunDto::from(run),
                dataset: DatasetRefDto {
                    name: run.dataset_name.clone(),
                    version: run.dataset_version,
                    digest: run.dataset_digest.clone(),
                },
                left_out: *left_out,
                usage: RunUsageDto::from(&run.usage),
                latency: LatencyDto::from(&run.latency),
                judge: run.settings.judge_label(),
                judge_fallbacks: run.judge_fallbacks,
                fingerprint: run.fingerprint.as_ref().map(FingerprintDto::from),
                differs_from_baseline: differences(&runs[0], run)
                    .into_iter()
                    .map(String::from)
                    .collect(),
            })
            .collect(),
        warnings: warnings(&runs, &comparison)
            .into_iter()
            .chain(unknown_category)
            .collect(),
        overall: BreakdownDto::new(&comparison.overall, &run_ids),
        categories: comparison
            .categories
            .iter()
            .map(|(category, breakdown)| CategoryComparisonDto {
                category: category.clone(),
                breakdown: BreakdownDto::new(breakdown, &run_ids),
            })
            .collect(),
        flipped: FlippedPageDto {
            total: comparison.flipped.len() as u64,
            matching: matching.len() as u64,
            items: page
                .iter()
                .map(|item| {
                    FlippedItemDto::new(&item.item_id, &item.category, &item.runs, &run_ids)
                })
                .collect(),
            next_cursor,
        },
    }))
}

/// The fingerprint fields in which `run` differs from `baseline` (none when either has none).
fn differences(baseline: &Run, run: &Run) -> Vec<&'static str> {
    match (&baseline.fingerprint, &run.fingerprint) {
        (Some(baseline), Some(other)) => baseline.differences(other),
        _ => Vec::new(),
    }
}

/// What a `category` filter none of the compared items is in is told: theirs, or that there
/// are none.
fn unknown_category(category: &str, comparison: &Comparison) -> String {
    const LISTED: usize = 20;
    let names: Vec<&str> = comparison
        .categories
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let theirs = match names.len() {
        0 => "there are no compared items".to_owned(),
        n if n <= LISTED => format!("theirs are: {}", names.join(", ")),
        n => format!(
            "theirs are: {} and {} more",
            names[..LISTED].join(", "),
            n - LISTED
        ),
    };
    format!(
        "no compared item is in category `{}`, so no flipped item is listed; {theirs}",
        shorten(category)
    )
}

/// Why the runs compare more than their models: the fingerprints of runs after the baseline
/// that differ in more than the model, runs without one, runs some of whose verdicts their LLM
/// judge did not give, and compared items counted wrong for want of an answer (not judged yet,
/// failed or canceled) rather than for a wrong one.
fn warnings(runs: &[Run], comparison: &Comparison) -> Vec<String> {
    let baseline = &runs[0];
    let figures = &comparison.overall.runs;
    let mut warnings = Vec::new();
    // First, since every figure below is over these items only: a sample or one category
    // compared beside whole runs shrinks the comparison to it (46 of 12,032 items), said
    // before in a figure alone.
    let leaving: Vec<String> = runs
        .iter()
        .zip(&comparison.left_out)
        .filter(|(_, left_out)| **left_out > 0)
        .map(|(run, left_out)| {
            format!("{} leaves {left_out} of its {}", run.id, run.counts.total())
        })
        .collect();
    if !leaving.is_empty() {
        warnings.push(format!(
            "only the {} item(s) every run has are compared: {}",
            comparison.compared,
            leaving.join(", ")
        ));
    }
    if comparison.changed > 0 {
        warnings.push(format!(
            "{} item(s) have the same id in these dataset versions but another question, options \
             or key: they are not the same item, and are left out",
            comparison.changed
        ));
    }
    for (run, figures) in runs.iter().zip(figures) {
        if figures.unanswered > 0 {
            warnings.push(format!(
                "{} has {} compared item(s) not judged yet, counted as wrong: its figures will \
                 change",
                run.id, figures.unanswered
            ));
        }
        if figures.faulted > 0 && run.provider_name == evalboard_domain::BROWSER_HARNESS_PROVIDER {
            // Not captured in the browser: a retry is refused for such runs, a new pack is not.
            warnings.push(format!(
                "{} has {} compared item(s) its captures did not answer, counted as wrong: they \
                 measure the capture, not the model (a pack of those items answers them)",
                run.id, figures.faulted
            ));
        } else if figures.faulted > 0 {
            warnings.push(format!(
                "{} has {} compared item(s) that failed or were canceled, counted as wrong: \
                 they measure the provider, not the model (a retry answers them)",
                run.id, figures.faulted
            ));
        }
    }
    for run in runs {
        // Its fingerprint names its judge, so two runs "judged alike" may not be: said.
        if run.judge_fallbacks > 0 {
            warnings.push(format!(
                "{} has {} verdict(s) its LLM judge did not give (it failed or answered without \
                 a verdict): the extraction rules gave them, so its figures are partly theirs",
                run.id, run.judge_fallbacks
            ));
        }
        if run.fingerprint.is_none() {
            warnings.push(format!(
                "{} has no fingerprint (made before fingerprints were recorded): what it ran with \
                 cannot be compared",
                run.id
            ));
        }
    }
    // Runs that differ alike are named in one warning: five runs of a sweep would otherwise
    // repeat one sentence five times above the figures.
    let mut beyond: Vec<(String, Vec<&str>)> = Vec::new();
    for run in &runs[1..] {
        let differing = differences(baseline, run);
        // Another kind of provider has other settings of its own: the Simulated provider's
        // settings differing too says nothing more.
        let other_kind = differing.contains(&"providerKind");
        let beyond_model: Vec<&str> = differing
            .into_iter()
            .filter(|field| *field != "model" && !(other_kind && *field == "simulated"))
            .collect();
        if !beyond_model.is_empty() {
            let described: Vec<String> = beyond_model
                .iter()
                .map(|field| format!("{} (`{field}`)", fingerprint_field_in_words(field)))
                .collect();
            let described = described.join(", ");
            match beyond.iter_mut().find(|(what, _)| *what == described) {
                Some((_, ids)) => ids.push(run.id.as_str()),
                None => beyond.push((described, vec![run.id.as_str()])),
            }
        }
    }
    for (described, ids) in beyond {
        let (last, rest) = ids.split_last().expect("a run differs");
        let who = if rest.is_empty() {
            format!("{last} differs")
        } else {
            format!("{} and {last} differ", rest.join(", "))
        };
        warnings.push(format!(
            "{who} from the baseline in more than the model: {described}"
        ));
    }
    warnings
}

/// What a fingerprint field stands for, for the warning's reader (the field's name follows it,
/// as `differsFromBaseline` lists it).
fn fingerprint_field_in_words(field: &str) -> &'static str {
    match field {
        "datasetDigest" => "the dataset's version",
        "selection" => "the items selected",
        "promptTemplate" => "the prompt template",
        "shots" => "the number of worked examples",
        "shotsFrom" => "where the worked examples come from",
        "providerKind" => "the kind of provider",
        "providerBaseUrl" => "the provider's endpoint",
        "generation" => "the generation settings (temperature, token limit, ...)",
        "simulated" => "the Simulated provider's settings",
        "judge" => "the judge",
        "evalboardVersion" => "the evalboard version",
        "cache" => "the response cache",
        _ => "a setting",
    }
}

/// 2 to 8 distinct, well-formed run ids, exactly as the parameter's pattern says (a run named
/// twice is well-formed, so a 422).
fn run_ids(text: &str) -> Result<Vec<RunId>, ApiError> {
    let bad = |message: String| ApiError::bad_parameter("runIds", message);
    let ids = text
        .split(',')
        .map(|id| RunId::parse(id).map_err(|_| bad(format!("`{}` is not a run id", shorten(id)))))
        .collect::<Result<Vec<_>, _>>()?;
    if !(2..=MAX_RUNS).contains(&ids.len()) {
        return Err(bad(format!(
            "must name 2 to {MAX_RUNS} runs, the first being the baseline; got {}",
            ids.len()
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(ApiError::unprocessable_parameter(
                "runIds",
                format!("names {id} twice"),
            ));
        }
    }
    Ok(ids)
}
