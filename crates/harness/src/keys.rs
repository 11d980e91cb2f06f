//! Signing keys, their ids, and the set of public keys a verifier trusts.

use std::{fmt, io::Write, path::Path};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::{
    SigningKey, VerifyingKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes, spki::der::pem::LineEnding},
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The only signature algorithm packs use.
pub const ALGORITHM: &str = "ed25519";

/// A key's id: the lowercase hex SHA-256 of its 32-byte raw ed25519 public key. Anyone holding
/// the public key derives the same id, so an id names exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        Self(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written. (What failed is its `source`, which an error
    /// chain prints after it: said here too, it was said twice.)
    #[error("{path}")]
    Io {
        /// The key file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The text is not a PKCS#8 PEM ed25519 private key. (The key's bytes are never shown.)
    #[error("{0}: not a PKCS#8 PEM ed25519 private key")]
    NotAPrivateKey(String),
    /// A public key is not the base64 of 32 bytes of a valid ed25519 point.
    #[error("not an ed25519 public key (base64 of its 32 raw bytes): {0}")]
    NotAPublicKey(String),
}

/// The server's private key, which signs packs. Its bytes are zeroed when dropped and never
/// printed: `Debug` shows only the key id.
pub struct PackSigner {
    key: SigningKey,
    id: KeyId,
}

impl fmt::Debug for PackSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackSigner").field("id", &self.id).finish()
    }
}

impl PackSigner {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        // The generator failing means the system cannot make keys at all; nothing to recover.
        getrandom::fill(seed.as_mut()).expect("the operating system's random generator failed");
        Self::from_seed(&seed)
    }

    /// The key whose 32-byte seed is `seed` (test vectors; keys in use come from files).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_key(SigningKey::from_bytes(seed))
    }

    fn from_key(key: SigningKey) -> Self {
        let id = KeyId::of(&key.verifying_key());
        Self { key, id }
    }

    /// Reads a PKCS#8 PEM private key; `origin` names it in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self::from_key)
            .map_err(|_| KeyError::NotAPrivateKey(origin.to_owned()))
    }

    /// Reads the key file at `path`.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                path: path.display().to_string(),
                source,
            })?,
        );
        Self::from_pem(&pem, &path.display().to_string())
    }

    /// Writes a new random key to `path` (PKCS#8 PEM, readable by its owner only) and returns
    /// it. An existing file is never overwritten, and a crash never leaves a partial key at
    /// `path`: the key is written to a temporary file beside it, synced, then moved into place
    /// only if nothing is there (an atomic no-replace rename where the filesystem has one).
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            return Err(io(std::io::ErrorKind::AlreadyExists.into()));
        }
        let signer = Self::generate();
        // PKCS#8 v1 (the seed alone, RFC 8410): what OpenSSL and most libraries read; the v2
        // form with the public key embedded is not read by all of them.
        let pem = KeypairBytes {
            secret_key: signer.key.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an ed25519 key always encodes");
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // Created mode 0600 on Unix; removed again if anything below fails.
        let mut draft = tempfile::Builder::new()
            .prefix(".harness-key-")
            .suffix(".tmp")
            .tempfile_in(directory)
            .map_err(io)?;
        draft.write_all(pem.as_bytes()).map_err(io)?;
        draft.as_file().sync_all().map_err(io)?;
        // Fails if a key appeared at `path` meanwhile: that one is kept.
        draft.persist_noclobber(path).map_err(|e| io(e.error))?;
        Ok(signer)
    }

    /// Reads the key at `path`, or creates it there when there is no file yet.
    pub fn read_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        match Self::create(path) {
            Ok(signer) => Ok((signer, true)),
            Err(KeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok((Self::read(path)?, false))
            }
            Err(error) => Err(error),
        }
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The public half.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public half as published (`GET /browser-harness/keys`, `retired_public_keys`): the
    /// standard base64 of its 32 raw bytes.
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.public_key().as_bytes())
    }

    /// Signs `message`; the 64-byte ed25519 signature.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes()
    }
}

/// Whether a trusted key still signs packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The key the server signs new packs with.
    Active,
    /// A key that signed packs before a rotation: its packs still verify, it signs no more.
    Retired,
}

impl KeyStatus {
    /// `active` or `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

/// A public key a verifier accepts signatures from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Its id.
    pub id: KeyId,
    /// The key.
    pub key: VerifyingKey,
    /// Active or retired.
    pub status: KeyStatus,
}

impl TrustedKey {
    /// A trusted key with its derived id.
    pub fn new(key: VerifyingKey, status: KeyStatus) -> Self {
        Self {
            id: KeyId::of(&key),
            key,
            status,
        }
    }

    /// The key as published: the standard base64 of its 32 raw bytes.
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.key.as_bytes())
    }
}

/// Reads a public key published as the standard base64 of its 32 raw bytes.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    // The text is not echoed: a private key pasted here by mistake must not reach a log.
    let refused = || KeyError::NotAPublicKey(format!("{} characters", text.chars().count()));
    let bytes = BASE64.decode(text.trim()).map_err(|_| refused())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| refused())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| refused())
}

/// The public keys a verifier trusts: the active key and any retired ones.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<TrustedKey>,
}

impl KeyRing {
    /// A ring of `keys`; a key listed twice is kept once, active winning over retired.
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        let mut ring = Self::default();
        for key in keys {
            match ring.keys.iter_mut().find(|k| k.id == key.id) {
                Some(known) if key.status == KeyStatus::Active => known.status = KeyStatus::Active,
                Some(_) => {}
                None => ring.keys.push(key),
            }
        }
        ring
    }

    /// The key with this id, if trusted.
    pub fn get(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id.as_str() == id)
    }

    /// Every trusted key, active first.
    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        let active = self.keys.iter().filter(|k| k.status == KeyStatus::Active);
        active.chain(self.keys.iter().filter(|k| k.status == KeyStatus::Retired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_is_private_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let created = PackSigner::create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        // PKCS#8 v1: version 0, the ed25519 OID, the 32-byte seed (as OpenSSL writes it).
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("MC4CAQAwBQYDK2VwBCIEI"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = PackSigner::read(&path).unwrap();
        assert_eq!(read.id(), created.id());
        let error = PackSigner::create(&path).unwrap_err();
        assert!(
            matches!(&error, KeyError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "never overwritten: {error}"
        );
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "no draft left beside the key: {files:?}");
        let (again, made) = PackSigner::read_or_create(&path).unwrap();
        assert!(!made);
        assert_eq!(again.id(), created.id());
    }

    #[test]
    fn servers_starting_together_end_up_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let ids: Vec<_> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| PackSigner::read_or_create(&path).unwrap()))
                .collect();
            starts
                .into_iter()
                .map(|start| start.join().unwrap())
                .collect()
        });
        assert_eq!(ids.iter().filter(|(_, made)| *made).count(), 1);
        assert!(ids.iter().all(|(signer, _)| signer.id() == ids[0].0.id()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn debug_shows_the_id_and_not_the_key() {
        let signer = PackSigner::from_seed(&[7; 32]);
        let shown = format!("{signer:?}");
        assert!(shown.contains(signer.id().as_str()));
        assert!(!shown.contains("SigningKey"));
    }

    #[test]
    fn garbage_is_not_a_key_and_the_error_does_not_echo_it() {
        let error = PackSigner::from_pem("-----BEGIN PRIVATE KEY-----\nsecret\n", "x.pem")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("secret"));
        assert!(parse_public_key("AAAA").is_err());
    }

    #[test]
    fn a_key_listed_twice_is_kept_once_and_active_wins() {
        let key = PackSigner::from_seed(&[1; 32]).public_key();
        let other = PackSigner::from_seed(&[2; 32]).public_key();
        let ring = KeyRing::new([
            TrustedKey::new(key, KeyStatus::Retired),
            TrustedKey::new(other, KeyStatus::Retired),
            TrustedKey::new(key, KeyStatus::Active),
        ]);
        let listed: Vec<_> = ring.keys().map(|k| (k.key, k.status)).collect();
        assert_eq!(
            listed,
            [(key, KeyStatus::Active), (other, KeyStatus::Retired)]
        );
        let published = ring.keys().next().unwrap().public_key_base64();
        assert_eq!(parse_public_key(&published).unwrap(), key);
    }
}
