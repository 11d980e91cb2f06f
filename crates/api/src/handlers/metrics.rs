//! `GET /metrics`: what the server did, in Prometheus's text format (see docs/operations.md).

use actix_web::{HttpResponse, get, web};

use crate::{
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// The server's metrics in Prometheus's text exposition format: HTTP requests, runs by status,
/// items finished, provider latencies, retries and 429s, claims taken over, database pool
/// waits, event stream subscribers, build information. Needs the viewer role, like every read.
/// While the database is out of reach (no connection within a second) the page is served
/// without the runs by status, and says so with `evalboard_database_up 0`.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "This server keeps no metrics", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub(crate) async fn metrics(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
) -> Result<HttpResponse, ApiError> {
    let render = state
        .metrics
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this server keeps no metrics".into()))?;
    // Runs by status is a count of what the database holds, read at each scrape (every replica
    // reports the same figures). Without the database it is left out, not the whole page: the
    // other metrics (pool timeouts, provider errors) matter most during an outage. The wait
    // for a connection is bounded, so that the scrape gets its page within Prometheus's
    // timeout (10 s by default) whatever the pool's acquire timeout.
    let counted = state
        .with_db(|db| db.count_runs_by_status(DATABASE_WAIT))
        .await;
    ::metrics::gauge!(DATABASE_UP).set(if counted.is_ok() { 1.0 } else { 0.0 });
    let body = match counted {
        Ok(counts) => {
            for (status, n) in counts {
                ::metrics::gauge!(RUNS, "status" => status.as_str()).set(n as f64);
            }
            render()
        }
        Err(error) => {
            tracing::debug!(%error, "metrics without the runs by status");
            without_metric(&render(), RUNS)
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// The gauge of runs by status, counted from the database at each scrape.
const RUNS: &str = "evalboard_runs";

/// Whether this scrape could read the database (1) or not (0).
const DATABASE_UP: &str = "evalboard_database_up";

/// How long a scrape waits for a database connection.
const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The exposition `text` without the series of metric `name` (its samples, `# HELP` and
/// `# TYPE` lines): a figure that cannot be read now is absent, as Prometheus expects, rather
/// than its last value.
fn without_metric(text: &str, name: &str) -> String {
    text.lines()
        .filter(|line| {
            let sample = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "));
            let metric = sample
                .unwrap_or(line)
                .split(['{', ' '])
                .next()
                .unwrap_or_default();
            metric != name
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_metric_is_left_out_with_its_help_and_type() {
        let text = "# HELP evalboard_runs Runs by status.\n# TYPE evalboard_runs gauge\n\
                    evalboard_runs{status=\"running\"} 2\nevalboard_runs_total 3\n\
                    # TYPE evalboard_up gauge\nevalboard_up 1\n";
        assert_eq!(
            super::without_metric(text, "evalboard_runs"),
            "evalboard_runs_total 3\n# TYPE evalboard_up gauge\nevalboard_up 1\n"
        );
    }
}
