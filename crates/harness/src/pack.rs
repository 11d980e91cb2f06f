//! Packs: the prompts a harness is to play, signed by the server.

use chrono::{DateTime, SubsecRound, Utc};
use evalboard_domain::{DatasetItem, render_prompt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{dsse::Envelope, keys::PackSigner};

/// The DSSE `payloadType` of a pack.
pub const PACK_PAYLOAD_TYPE: &str = "application/vnd.evalboard.harness-pack.v1+json";
/// Most items a pack holds.
pub const MAX_PACK_ITEMS: usize = 20_000;

/// What a pack says, signed: which prompts to play, for which target, until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackPayload {
    /// The pack's id, unique per server (`pack-` and a UUID).
    pub pack_id: String,
    /// When the pack was issued (UTC, whole seconds).
    pub issued_at: DateTime<Utc>,
    /// After this, the server no longer imports captures of the pack.
    pub expires_at: DateTime<Utc>,
    /// The dataset version the items come from.
    pub dataset: PackDataset,
    /// The model the harness plays the prompts to (`chatgpt-web`, say): the run's model.
    pub target: String,
    /// The prompt template the prompt texts were rendered with.
    pub prompt_template: String,
    /// The items, by sequence from 1.
    pub items: Vec<PackItem>,
}

/// The dataset version a pack was cut from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackDataset {
    /// Its name.
    pub name: String,
    /// Its version on the issuing server.
    pub version: u32,
    /// Its content digest (`sha256:` and hex).
    pub digest: String,
}

/// One prompt of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackItem {
    /// Its position in the pack, from 1; captures name items by it.
    pub sequence: u32,
    /// The dataset item's id.
    pub dataset_item_id: String,
    /// The exact text the harness sends, as one message.
    pub prompt_text: String,
    /// The options, in letter order (A, B, ...), for display; they are also in the prompt.
    pub choices: Vec<String>,
    /// Lowercase hex SHA-256 of the prompt text's UTF-8 bytes.
    pub prompt_sha256: String,
}

/// The lowercase hex SHA-256 of a prompt's UTF-8 bytes.
pub fn prompt_sha256(prompt: &str) -> String {
    hex::encode(Sha256::digest(prompt.as_bytes()))
}

impl PackPayload {
    /// A pack of `items` (already chosen, in order), their prompts rendered zero-shot with
    /// the server's template. Times are cut to whole seconds.
    pub fn build(
        pack_id: String,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        dataset: PackDataset,
        target: String,
        items: &[DatasetItem],
    ) -> Self {
        // One kind of item per dataset: its first item's names the template.
        let template = items
            .first()
            .map_or(evalboard_domain::PROMPT_TEMPLATE, |item| {
                evalboard_domain::prompt_template(item.answer.kind())
            });
        let items = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let prompt_text = render_prompt(item, &[]);
                PackItem {
                    sequence: index as u32 + 1,
                    dataset_item_id: item.id.clone(),
                    prompt_sha256: prompt_sha256(&prompt_text),
                    prompt_text,
                    choices: item.choices.clone(),
                }
            })
            .collect();
        Self {
            pack_id,
            issued_at: issued_at.trunc_subsecs(0),
            expires_at: expires_at.trunc_subsecs(0),
            dataset,
            target,
            prompt_template: template.to_owned(),
            items,
        }
    }

    /// A new pack id.
    pub fn new_id() -> String {
        format!("pack-{}", uuid::Uuid::now_v7())
    }

    /// The payload's bytes as signed: compact JSON, fields in the order declared here.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a pack is plain data")
    }

    /// Signs the pack.
    pub fn sign(&self, signer: &PackSigner) -> Envelope {
        Envelope::sign(PACK_PAYLOAD_TYPE, &self.to_bytes(), signer)
    }

    /// The item with this sequence.
    pub fn item(&self, sequence: u32) -> Option<&PackItem> {
        let index = usize::try_from(sequence).ok()?.checked_sub(1)?;
        self.items
            .get(index)
            .filter(|item| item.sequence == sequence)
    }
}
