//! `evalboard-bench rate`: GET requests at a fixed rate (an open loop: a slow answer does not
//! slow the requests that follow), measuring how long each takes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::histogram::Histogram;

/// Requests `url` `rate` times a second for `seconds`, then prints one `result` line: how many
/// were answered 200, how many were not, and the latency percentiles of the answered ones.
#[tokio::main]
pub(crate) async fn run(url: &str, rate: u32, seconds: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let histogram = Arc::new(Histogram::new());
    let failed = Arc::new(AtomicU64::new(0));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = u64::from(rate) * seconds;
    let mut requests = Vec::with_capacity(total as usize);
    for _ in 0..total {
        ticks.tick().await;
        let (client, url) = (client.clone(), url.to_owned());
        let (histogram, failed) = (Arc::clone(&histogram), Arc::clone(&failed));
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            let answered = match client.get(&url).send().await {
                Ok(response) if response.status() == 200 => response.bytes().await.is_ok(),
                _ => false,
            };
            if answered {
                histogram.record(started.elapsed().as_micros() as i64);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for request in requests {
        request.await?;
    }
    println!(
        "result rate={rate} requests={} failed={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        histogram.count(),
        failed.load(Ordering::Relaxed),
        histogram.quantile_ms(0.50),
        histogram.quantile_ms(0.99),
        histogram.quantile_ms(1.0),
    );
    Ok(())
}
