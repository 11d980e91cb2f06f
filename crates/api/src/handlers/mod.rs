//! Request handlers, one per module, registered in [`routes`].

mod auth;
mod browser_harness;
mod datasets;
mod health;
mod metrics;
mod providers;
mod runs;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. Order matters where paths overlap: `/runs/active`,
/// `/runs/events` and `/runs/compare` are registered before `/runs/{run_id}`.
pub(crate) fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(runs::create::create_run)
        .service(runs::list::list_runs)
        .service(runs::active::list_active_runs)
        .service(runs::events::stream_run_events)
        .service(runs::compare::compare)
        .service(runs::get::get_run)
        .service(runs::logs::list_run_logs)
        .service(runs::items::list_run_items)
        .service(runs::item_stream::stream_item_text)
        .service(runs::export::export_run_items)
        .service(runs::retry::retry_run)
        .service(runs::rejudge::rejudge_run)
        .service(runs::cancel::cancel_run)
        .service(datasets::list::list_datasets)
        .service(datasets::import::import_dataset)
        .service(providers::list_providers)
        .service(browser_harness::keys::list_keys)
        .service(browser_harness::packs::create_pack)
        .service(browser_harness::imports::import_captures)
        .service(browser_harness::schemas::capture_bundle)
        .service(browser_harness::schemas::pack_payload)
        .service(auth::get_session)
        .service(auth::create_session)
        .service(auth::delete_session)
        .service(metrics::metrics)
        .service(health::healthz)
        .service(health::readyz);
}
