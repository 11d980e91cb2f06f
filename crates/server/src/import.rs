//! `evalboard dataset import FILE --name NAME`: import a dataset file from the command line,
//! with the same checks as `POST /datasets`. `.gz` files are decompressed on the fly.

use std::{io::Read, path::Path};

use anyhow::{Context, bail};
use chrono::Utc;
use evalboard_domain::{
    DatasetName,
    import::{ImportFormat, MAX_DATASET_BYTES, parse_items},
    truncate_to_micros,
};
use evalboard_persistence::{Database, DatasetImport};

use crate::output::print_line;

/// Reads, checks and stores the file; prints a summary, or every problem and fails. The
/// problems and warnings are printed as they can be: whether the file was imported is told by
/// the command's status, not by whether anyone read them.
pub(crate) fn import_file(
    db: &Database,
    file: &Path,
    name: &str,
    format: Option<ImportFormat>,
) -> anyhow::Result<()> {
    let name = DatasetName::parse(name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let format = match format {
        Some(format) => format,
        None => format_from_extension(file)?,
    };
    let bytes = read(file)?;
    let parsed = match parse_items(format, &bytes) {
        Ok(parsed) => parsed,
        Err(rejected) => {
            for problem in &rejected.problems {
                let _ = print_line(format_args!("{}: {problem}", file.display()));
            }
            if rejected.total > rejected.problems.len() {
                let _ = print_line(format_args!(
                    "... and {} more",
                    rejected.total - rejected.problems.len()
                ));
            }
            bail!(
                "{} was not imported: {} problem(s)",
                file.display(),
                rejected.total
            );
        }
    };
    for warning in &parsed.warnings {
        let _ = print_line(format_args!("{}: warning: {warning}", file.display()));
    }
    if parsed.warning_total > parsed.warnings.len() {
        let _ = print_line(format_args!(
            "... and {} more warnings",
            parsed.warning_total - parsed.warnings.len()
        ));
    }
    let imported = db.import_dataset(DatasetImport {
        name: &name,
        items: &parsed.items,
        at: truncate_to_micros(Utc::now()),
    })?;
    let dataset = &imported.dataset;
    print_line(format_args!(
        "{} dataset `{}` version {} ({}): {} {} in {} {}",
        if imported.created {
            "imported"
        } else {
            "unchanged:"
        },
        dataset.name,
        dataset.version,
        dataset.digest,
        dataset.item_count,
        if dataset.item_count == 1 {
            "item"
        } else {
            "items"
        },
        dataset.categories.len(),
        if dataset.categories.len() == 1 {
            "category"
        } else {
            "categories"
        },
    ))?;
    if let Some(replaced) = imported.replaced {
        // New runs of the name take the new version: said, in case it was not meant (a
        // sample uploaded under the whole set's name).
        print_line(format_args!(
            "new runs of `{}` take it in place of version {} ({} items)",
            dataset.name, replaced.version, replaced.item_count
        ))?;
    }
    Ok(())
}

fn format_from_extension(file: &Path) -> anyhow::Result<ImportFormat> {
    let name = file.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Ok(ImportFormat::Jsonl)
    } else if name.ends_with(".csv") {
        Ok(ImportFormat::Csv)
    } else if name.ends_with(".parquet") {
        Ok(ImportFormat::Parquet)
    } else {
        bail!(
            "cannot tell the format of {} from its name: pass --format jsonl|csv|parquet",
            file.display()
        )
    }
}

/// The file's bytes as parsed — decompressed for `.gz` — refused past
/// [`MAX_DATASET_BYTES`], as `POST /datasets` refuses them: memory stays bounded whatever the
/// file (a gzip bomb stops at the limit).
fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let gzip = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let limit = MAX_DATASET_BYTES as u64;
    let mut source: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            opened,
        )))
    } else {
        Box::new(opened)
    };
    let mut bytes = Vec::new();
    source
        .by_ref()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| {
            if gzip {
                format!("{} is not a valid gzip file", file.display())
            } else {
                format!("cannot read {}", file.display())
            }
        })?;
    if bytes.len() as u64 > limit {
        bail!(
            "{} is larger than {} MiB{}, the most a dataset file may hold (POST /datasets too)",
            file.display(),
            MAX_DATASET_BYTES / (1024 * 1024),
            if gzip { " once decompressed" } else { "" }
        );
    }
    Ok(bytes)
}
