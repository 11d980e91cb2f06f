//! The Browser Harness packs this server issued. (Runs made from their captures are in
//! `runs::import`.)

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{DatasetId, ItemSelection, Timestamp};

use crate::{database::Database, error::StoreError, schema::harness_packs};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = harness_packs)]
pub(crate) struct PackRow {
    pub(crate) id: String,
    pub(crate) key_id: String,
    pub(crate) dataset_id: String,
    pub(crate) target: String,
    pub(crate) item_count: i64,
    pub(crate) payload_sha256: String,
    pub(crate) issued_at: NaiveDateTime,
    pub(crate) expires_at: NaiveDateTime,
    /// The request's selection as JSON; `None` for packs issued before it was kept.
    pub(crate) selection: Option<String>,
}

impl PackRow {
    /// Which items of its dataset the pack was cut from, when it was recorded.
    pub(crate) fn selection(&self) -> Result<Option<ItemSelection>, StoreError> {
        self.selection
            .as_deref()
            .map(|json| serde_json::from_str(json).map_err(StoreError::corrupt))
            .transpose()
    }
}

/// A pack as issued: enough to recognise its captures when they come back.
#[derive(Debug, Clone)]
pub struct IssuedPack<'a> {
    /// The pack's id.
    pub id: &'a str,
    /// The id of the key that signed it.
    pub key_id: &'a str,
    /// The dataset version its items come from.
    pub dataset_id: &'a DatasetId,
    /// The model it is for.
    pub target: &'a str,
    /// How many items it holds.
    pub item_count: usize,
    /// SHA-256 (hex) of the signed payload bytes.
    pub payload_sha256: &'a str,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Which items of the dataset it was cut from: the run made from its captures records it.
    pub selection: &'a ItemSelection,
}

impl Database {
    /// Records a pack the server is about to hand out.
    pub fn record_pack(&self, pack: IssuedPack<'_>) -> Result<(), StoreError> {
        self.write(|conn| {
            diesel::insert_into(harness_packs::table)
                .values(PackRow {
                    id: pack.id.to_owned(),
                    key_id: pack.key_id.to_owned(),
                    dataset_id: pack.dataset_id.to_string(),
                    target: pack.target.to_owned(),
                    item_count: pack.item_count as i64,
                    payload_sha256: pack.payload_sha256.to_owned(),
                    issued_at: pack.issued_at.naive_utc(),
                    expires_at: pack.expires_at.naive_utc(),
                    selection: Some(
                        serde_json::to_string(pack.selection).map_err(StoreError::corrupt)?,
                    ),
                })
                .execute(conn)?;
            Ok(())
        })
    }

    /// The ids of the keys that signed packs still valid at `at` (not expired), with how many
    /// each signed: the keys captures may come back signed with.
    pub fn valid_pack_signers(&self, at: Timestamp) -> Result<Vec<(String, u64)>, StoreError> {
        let signers: Vec<(String, i64)> = self.read(|conn| {
            Ok(harness_packs::table
                .filter(harness_packs::expires_at.gt(at.naive_utc()))
                .group_by(harness_packs::key_id)
                .select((harness_packs::key_id, diesel::dsl::count_star()))
                .order_by(harness_packs::key_id)
                .load(conn)?)
        })?;
        Ok(signers
            .into_iter()
            .map(|(key, count)| (key, count.unsigned_abs()))
            .collect())
    }
}
