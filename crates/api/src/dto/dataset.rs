//! Datasets on the wire.

use evalboard_domain::{Dataset, import::LineIssue};
use serde::Serialize;
use utoipa::ToSchema;

use super::api_time;

/// A dataset (its newest version).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetDto {
    /// Name runs refer to it by.
    #[schema(example = "MMLU-Pro")]
    pub name: String,
    /// Version under that name: 1 for the first import, +1 for each import with new content.
    pub version: u32,
    /// Content digest (`sha256:` + hex), equal for equal items in equal order.
    pub digest: String,
    /// How many items it has.
    pub item_count: u64,
    /// Its categories with their item counts, by name.
    pub categories: Vec<CategoryDto>,
    /// When this version was imported.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A category of a dataset.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDto {
    /// Category name.
    pub name: String,
    /// Items in it.
    pub item_count: u64,
}

/// Something accepted during an import but worth knowing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportWarningDto {
    /// 1-based line of the file.
    pub line: usize,
    /// What was noticed.
    pub detail: String,
}

/// The outcome of `POST /datasets`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetImportResponse {
    /// The stored dataset version.
    pub dataset: DatasetDto,
    /// `false` when the newest version already had exactly these items (nothing was written).
    pub created: bool,
    /// Accepted oddities, e.g. MMLU-Pro rows whose `answer` and `answer_index` disagree: the
    /// first 100, in line order.
    pub warnings: Vec<ImportWarningDto>,
    /// How many warnings there were in all.
    pub warning_count: usize,
    /// The version this one follows under its name, which new runs of the name no longer take
    /// (runs made before keep theirs); `null` for a first version, or when nothing was stored.
    #[schema(required = true)]
    pub replaced: Option<ReplacedVersionDto>,
}

/// A dataset version that an import put a newer one after.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplacedVersionDto {
    /// Its version number.
    pub version: u32,
    /// How many items it has (against the new version's: an upload of a sample under the
    /// whole set's name is seen).
    pub item_count: u64,
}

impl From<evalboard_persistence::ReplacedVersion> for ReplacedVersionDto {
    fn from(replaced: evalboard_persistence::ReplacedVersion) -> Self {
        Self {
            version: replaced.version,
            item_count: replaced.item_count,
        }
    }
}

impl From<&Dataset> for DatasetDto {
    fn from(d: &Dataset) -> Self {
        Self {
            name: d.name.clone(),
            version: d.version,
            digest: d.digest.clone(),
            item_count: d.item_count,
            categories: d
                .categories
                .iter()
                .map(|c| CategoryDto {
                    name: c.name.clone(),
                    item_count: c.items,
                })
                .collect(),
            created_at: api_time(d.created_at),
        }
    }
}

impl From<LineIssue> for ImportWarningDto {
    fn from(issue: LineIssue) -> Self {
        Self {
            line: issue.line,
            detail: issue.message,
        }
    }
}
