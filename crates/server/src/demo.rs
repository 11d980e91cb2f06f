//! The bundled demo dataset, imported on first start so a fresh server has something to run.

use chrono::Utc;
use evalboard_domain::{
    DatasetName,
    import::{ImportFormat, parse_items},
    truncate_to_micros,
};
use evalboard_persistence::{Database, DatasetImport};

/// Name the demo dataset is stored under.
pub(crate) const DEMO_DATASET: &str = "evalboard-demo";

const DEMO_JSONL: &str = include_str!("../../../datasets/evalboard-demo.jsonl");

/// Imports the demo dataset unless a dataset of that name exists (possibly a newer version a
/// user imported, which is left alone).
pub(crate) fn ensure_demo_dataset(db: &Database) -> anyhow::Result<()> {
    if db.find_dataset(DEMO_DATASET)?.is_some() {
        return Ok(());
    }
    let parsed = parse_items(ImportFormat::Jsonl, DEMO_JSONL.as_bytes())?;
    let name = DatasetName::parse(DEMO_DATASET).map_err(anyhow::Error::msg)?;
    let imported = db.import_dataset(DatasetImport {
        name: &name,
        items: &parsed.items,
        at: truncate_to_micros(Utc::now()),
    })?;
    // Replicas starting together each try: one imports it, the others find it there.
    if imported.created {
        tracing::info!(
            dataset = DEMO_DATASET,
            items = imported.dataset.item_count,
            "imported the demo dataset"
        );
    }
    Ok(())
}
