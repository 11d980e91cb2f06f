//! The reproducibility fingerprint of a run: everything that determines its results, and a
//! digest of it. Two runs with the same fingerprint asked the same model the same questions the
//! same way and judged the answers the same way.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    selection::ItemSelection,
    settings::{GenerationSettings, JudgeSettings, RunSettings, ShotsSource, SimulatedSettings},
};

/// The version of evalboard that built this code (the workspace's version).
pub const EVALBOARD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What determines a run's results. Stored with the run; its [`Fingerprint::digest`] is what
/// runs are compared by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    /// The dataset version's content digest.
    pub dataset_digest: String,
    /// Which items of it.
    pub selection: ItemSelection,
    /// The prompt template, with its version (`mmlu-pro-cot-v2`).
    pub prompt_template: String,
    /// Worked examples per prompt.
    pub shots: u32,
    /// The dataset (name and version) the worked examples come from, when not the run's own.
    /// Absent from runs that take none from elsewhere, and from runs fingerprinted before it was
    /// (so their digests are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots_from: Option<ShotsSource>,
    /// The model, as named by the provider.
    pub model: String,
    /// How the provider is reached (`openai-compatible`, `anthropic`, `simulated`, or
    /// `browser-harness` for imported captures).
    pub provider_kind: String,
    /// The provider's endpoint, without credentials or query (`None` for kinds without one).
    pub provider_base_url: Option<String>,
    /// Sampling parameters.
    pub generation: GenerationSettings,
    /// The simulated provider's behaviour, for simulated runs.
    pub simulated: Option<SimulatedSettings>,
    /// Who judges.
    pub judge: JudgeSettings,
    /// The evalboard version.
    pub evalboard_version: String,
    /// `true` when the run had the response cache on (`settings.cache`): answers stored by
    /// earlier runs are served instead of asking the model, so such a run may repeat earlier
    /// answers rather than sample anew. Absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

impl Fingerprint {
    /// The fingerprint of a run made by this evalboard with `settings` (in force) on a dataset
    /// version with `dataset_digest`, its prompts rendered by `prompt_template`, asking `model`
    /// of a provider of `provider_kind` at `base_url`.
    pub fn new(
        settings: &RunSettings,
        dataset_digest: &str,
        prompt_template: &str,
        model: &str,
        provider_kind: &str,
        base_url: Option<&str>,
    ) -> Self {
        Self {
            dataset_digest: dataset_digest.to_owned(),
            selection: settings.selection.clone(),
            prompt_template: prompt_template.to_owned(),
            shots: settings.shots.unwrap_or(0),
            shots_from: settings.shots_from.clone(),
            model: model.to_owned(),
            provider_kind: provider_kind.to_owned(),
            provider_base_url: base_url.map(public_base_url),
            generation: settings.generation.clone(),
            simulated: settings.simulated.clone(),
            judge: settings.judge.clone().unwrap_or(JudgeSettings::Choice),
            evalboard_version: EVALBOARD_VERSION.to_owned(),
            cache: settings.cache.filter(|on| *on),
        }
    }

    /// `sha256:` and the hex SHA-256 of the fingerprint's JSON (fields in declaration order).
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a fingerprint always serializes");
        format!("sha256:{}", hex::encode(Sha256::digest(json)))
    }

    /// The names (as in JSON) of the fields in which `other` differs from `self`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |name: &'static str, same: bool| {
            if !same {
                changed.push(name);
            }
        };
        check("datasetDigest", self.dataset_digest == other.dataset_digest);
        check("selection", self.selection == other.selection);
        check(
            "promptTemplate",
            self.prompt_template == other.prompt_template,
        );
        check("shots", self.shots == other.shots);
        check("shotsFrom", self.shots_from == other.shots_from);
        check("model", self.model == other.model);
        check("providerKind", self.provider_kind == other.provider_kind);
        // `…/v1` and `…/v1/` are one endpoint (the clients append the path after a `/`).
        fn endpoint(url: Option<&str>) -> Option<&str> {
            url.map(|u| u.trim_end_matches('/'))
        }
        check(
            "providerBaseUrl",
            endpoint(self.provider_base_url.as_deref())
                == endpoint(other.provider_base_url.as_deref()),
        );
        check("generation", self.generation == other.generation);
        check("simulated", self.simulated == other.simulated);
        check("judge", self.judge == other.judge);
        check(
            "evalboardVersion",
            self.evalboard_version == other.evalboard_version,
        );
        check("cache", self.cache == other.cache);
        changed
    }
}

/// A provider endpoint without what could be a secret: any query or fragment, and everything
/// up to the last `@` (user information, however it is written: parsers disagree on where an
/// authority with a `/` in its password ends, so anything before an `@` is dropped).
pub fn public_base_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let after_at = |text: &'_ str| {
        text.rsplit_once('@')
            .map_or(text, |(_, after)| after)
            .to_owned()
    };
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", after_at(rest)),
        None => after_at(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fingerprint {
        Fingerprint {
            dataset_digest: "sha256:00".into(),
            selection: ItemSelection::default(),
            prompt_template: "mmlu-pro-cot-v2".into(),
            shots: 0,
            shots_from: None,
            model: "gpt".into(),
            provider_kind: "openai-compatible".into(),
            provider_base_url: Some("https://api.example/v1".into()),
            generation: GenerationSettings::default(),
            simulated: None,
            judge: JudgeSettings::Choice,
            evalboard_version: EVALBOARD_VERSION.into(),
            cache: None,
        }
    }

    #[test]
    fn digest_follows_every_field() {
        let a = sample();
        assert_eq!(a.digest(), sample().digest());
        assert!(a.digest().starts_with("sha256:") && a.digest().len() == 71);
        let mut b = sample();
        b.generation.temperature = Some(0.0);
        b.model = "other".into();
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.differences(&b), ["model", "generation"]);
        assert!(a.differences(&a).is_empty());
        let mut c = sample();
        c.shots_from = Some(ShotsSource {
            dataset_name: "val".into(),
            version: Some(2),
        });
        c.cache = Some(true);
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.differences(&c), ["shotsFrom", "cache"]);
        // A trailing `/` is the same endpoint; another path is not.
        let mut d = sample();
        d.provider_base_url = Some("https://api.example/v1/".into());
        assert!(a.differences(&d).is_empty());
        d.provider_base_url = Some("https://api.example/v2".into());
        assert_eq!(a.differences(&d), ["providerBaseUrl"]);
    }

    /// A fingerprint without worked examples from elsewhere and without the cache serializes
    /// as before those fields existed: the digests of runs already stored do not change, and
    /// their stored JSON still reads.
    #[test]
    fn fields_added_later_leave_earlier_digests_alone() {
        let json = serde_json::to_value(sample()).unwrap();
        assert!(json.get("shotsFrom").is_none() && json.get("cache").is_none());
        let stored: Fingerprint = serde_json::from_value(json).unwrap();
        assert_eq!(stored, sample());
        let off = RunSettings {
            cache: Some(false),
            ..RunSettings::default()
        };
        let fingerprint = Fingerprint::new(&off, "sha256:00", "t", "m", "simulated", None);
        assert_eq!(fingerprint.cache, None, "the cache off is not recorded");
    }

    #[test]
    fn base_urls_lose_their_secrets() {
        assert_eq!(
            public_base_url("https://user:key@api.example:8443/v1?key=s#x"),
            "https://api.example:8443/v1"
        );
        assert_eq!(
            public_base_url("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/"
        );
        assert_eq!(public_base_url("https://a@b"), "https://b");
        assert_eq!(
            public_base_url("https://user:pa/ss@api.example/v1"),
            "https://api.example/v1"
        );
        assert_eq!(
            public_base_url("https://user:pa/ss@api.example/v1"),
            "https://api.example/v1"
        );
    }
}
