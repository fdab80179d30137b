//! Secrets encrypted at rest.
//!
//! Each secret is one file `<data_dir>/secrets/<namespace>/<name>` (mode 0600, directories
//! 0700) holding a random 24-byte nonce followed by the XChaCha20-Poly1305 ciphertext of the
//! value, with `namespace/name` as associated data (a file moved to another name does not
//! decrypt).
//!
//! The 256-bit key lives in a separate file (0600), created on first use: by default
//! `<data_dir>/keys/secrets.key` (in a 0700 directory), or wherever
//! [`crate::LocalConfig::secrets_key_file`] points — keep it outside the data directory when
//! the data directory is backed up or copied, and back the key up apart from the data.
//!
//! `<data_dir>/secrets/.key-check` holds a known value encrypted with the key. At open, a key
//! that does not decrypt it (or, in a data directory from before the check file, that
//! decrypts none of the stored secrets) is refused with [`LocalError::SecretsKey`], and so is
//! a missing key file while secrets exist: a wrong or lost key is a clear error at start, not
//! garbage or a fresh key that silently orphans the stored secrets.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::error::{LocalError, LocalResult};
use crate::fsutil;

const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// The file, in the secrets directory, that tells whether a key is the one secrets use.
const KEY_CHECK_FILE: &str = ".key-check";
/// Its plaintext and associated data (no secret has an empty namespace, so no clash).
const KEY_CHECK_TEXT: &[u8] = b"faas-provider-local secrets key check v1";
const KEY_CHECK_AAD: &str = "/key-check";

/// The encrypted secret files of the data directory.
pub(crate) struct SecretStore {
    dir: PathBuf,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn key_error(path: &Path, message: impl Into<String>) -> LocalError {
    LocalError::SecretsKey {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl SecretStore {
    /// Opens the store in `data_dir` with the key in `key_file` (`None`:
    /// `<data_dir>/keys/secrets.key`), creating the key on first use and checking that it is
    /// the key the stored secrets were encrypted with.
    pub(crate) fn open(data_dir: &Path, key_file: Option<&Path>) -> LocalResult<Self> {
        let dir = data_dir.join("secrets");
        fsutil::private_dir(&dir)?;
        let default_key = data_dir.join("keys").join("secrets.key");
        let key_path = match key_file {
            None => {
                fsutil::private_dir(&data_dir.join("keys"))?;
                default_key.clone()
            }
            Some(path) => path.to_owned(),
        };
        let key_bytes = match fs::read(&key_path) {
            Ok(bytes) => {
                if let Ok(meta) = fs::metadata(&key_path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(path = %key_path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "the secrets key file is readable by other users; chmod 600 it");
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if Self::has_secrets(&dir)? {
                    let mut message = format!(
                        "not found, but {} holds secrets encrypted with a key: restore the key file \
                         (refusing to create a new key, which would make them unreadable)",
                        dir.display()
                    );
                    if key_path != default_key && default_key.is_file() {
                        message.push_str(&format!(
                            "; the key is still at {}: move it to {}",
                            default_key.display(),
                            key_path.display()
                        ));
                    }
                    return Err(key_error(&key_path, message));
                }
                // An operator's directory is left as it is; a missing one is created private.
                if let Some(parent) = key_path.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.exists()
                {
                    fsutil::private_dir(parent)?;
                }
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                fsutil::write_atomic(&key_path, key.as_slice())?;
                tracing::info!(path = %key_path.display(), "created the secrets key");
                key.to_vec()
            }
            Err(e) => return Err(LocalError::io("reading", &key_path)(e)),
        };
        if key_bytes.len() != KEY_LEN {
            return Err(key_error(
                &key_path,
                format!(
                    "the key file must hold exactly {KEY_LEN} bytes, it holds {}",
                    key_bytes.len()
                ),
            ));
        }
        let store = Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key_bytes)),
            dir,
        };
        store.check_key(&key_path)?;
        Ok(store)
    }

    /// Whether any secret file exists (the key check file aside).
    fn has_secrets(dir: &Path) -> LocalResult<bool> {
        Ok(!Self::all_secrets(dir)?.is_empty())
    }

    /// Every stored secret as `(namespace, name)`.
    fn all_secrets(dir: &Path) -> LocalResult<Vec<(String, String)>> {
        let visible = |e: &fs::DirEntry| {
            e.file_name()
                .into_string()
                .ok()
                .filter(|n| !n.starts_with('.'))
        };
        let mut out = Vec::new();
        let entries = fs::read_dir(dir).map_err(LocalError::io("listing", dir))?;
        for ns in entries.filter_map(|e| e.ok()) {
            let Some(ns_name) = visible(&ns).filter(|_| ns.path().is_dir()) else {
                continue;
            };
            let Ok(files) = fs::read_dir(ns.path()) else {
                continue;
            };
            for f in files.filter_map(|e| e.ok()) {
                if let Some(name) = visible(&f).filter(|_| f.path().is_file()) {
                    out.push((ns_name.clone(), name));
                }
            }
        }
        Ok(out)
    }

    /// Refuses a key that is not the one the stored secrets use; records the key check the
    /// first time.
    fn check_key(&self, key_path: &Path) -> LocalResult<()> {
        let check = self.dir.join(KEY_CHECK_FILE);
        let mismatch = || {
            key_error(
                key_path,
                format!(
                    "this is not the key the secrets in {} were encrypted with \
                     (wrong key file, or the data directory belongs to another key)",
                    self.dir.display()
                ),
            )
        };
        match fs::read(&check) {
            Ok(bytes) => {
                if self.open_sealed(&bytes, KEY_CHECK_AAD).as_deref() == Some(KEY_CHECK_TEXT) {
                    return Ok(());
                }
                // A check file made for a key that protects nothing any more (every secret was
                // deleted and the key replaced) is simply renewed.
                if Self::has_secrets(&self.dir)? {
                    return Err(mismatch());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A data directory from before the check file: the key must open its secrets.
                let secrets = Self::all_secrets(&self.dir)?;
                if !secrets.is_empty() && !secrets.iter().any(|(ns, n)| self.get(ns, n).is_ok()) {
                    return Err(mismatch());
                }
            }
            Err(e) => return Err(LocalError::io("reading", &check)(e)),
        }
        let sealed = self.seal(KEY_CHECK_TEXT, KEY_CHECK_AAD)?;
        fsutil::write_atomic(&check, &sealed)
    }

    /// `nonce || ciphertext` of `value` with `aad`.
    fn seal(&self, value: &[u8], aad: &str) -> LocalResult<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| LocalError::Crypto {
                name: aad.to_owned(),
                message: "encryption failed",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// The plaintext of `nonce || ciphertext`, `None` when it does not authenticate.
    fn open_sealed(&self, bytes: &[u8], aad: &str) -> Option<Vec<u8>> {
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
    }

    fn path(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir.join(namespace).join(name)
    }

    /// Whether the secret exists.
    pub(crate) fn exists(&self, namespace: &str, name: &str) -> bool {
        self.path(namespace, name).is_file()
    }

    /// Encrypts and writes a secret (create or replace).
    pub(crate) fn put(&self, namespace: &str, name: &str, value: &[u8]) -> LocalResult<()> {
        let sealed = self.seal(value, &format!("{namespace}/{name}"))?;
        fsutil::private_dir(&self.dir.join(namespace))?;
        fsutil::write_atomic(&self.path(namespace, name), &sealed)
    }

    /// Reads and decrypts a secret; `None` when it does not exist.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> LocalResult<Option<Vec<u8>>> {
        let path = self.path(namespace, name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LocalError::io("reading", &path)(e)),
        };
        let aad = format!("{namespace}/{name}");
        if bytes.len() < NONCE_LEN {
            return Err(LocalError::Crypto {
                name: aad,
                message: "file is truncated",
            });
        }
        self.open_sealed(&bytes, &aad)
            .map(Some)
            .ok_or(LocalError::Crypto {
                name: aad,
                message: "cannot decrypt (wrong key or damaged file)",
            })
    }

    /// Deletes a secret; `false` when it did not exist.
    pub(crate) fn delete(&self, namespace: &str, name: &str) -> LocalResult<bool> {
        let path = self.path(namespace, name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(LocalError::io("removing", &path)(e)),
        }
    }

    /// The secret names of a namespace, sorted.
    pub(crate) fn list(&self, namespace: &str) -> LocalResult<Vec<String>> {
        let dir = self.dir.join(namespace);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LocalError::io("listing", &dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Decrypts the named secrets of a namespace, for a replica to mount.
    pub(crate) fn load_many(
        &self,
        namespace: &str,
        names: &[String],
    ) -> LocalResult<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for name in names {
            if let Some(v) = self.get(namespace, name)? {
                out.insert(name.clone(), v);
            }
        }
        Ok(out)
    }

    /// Removes a namespace's (empty) secret directory.
    pub(crate) fn remove_namespace(&self, namespace: &str) {
        let _ = fs::remove_dir(self.dir.join(namespace));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_encrypted_private_and_bound_to_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path(), None).unwrap();
        store.put("ns", "api-key", b"plaintext-value-123").unwrap();
        let path = dir.path().join("secrets/ns/api-key");
        let raw = fs::read(&path).unwrap();
        assert!(!raw.windows(19).any(|w| w == b"plaintext-value-123"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let key = dir.path().join("keys/secrets.key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            store.get("ns", "api-key").unwrap().unwrap(),
            b"plaintext-value-123"
        );
        // A reopened store (same key file) still decrypts.
        let store2 = SecretStore::open(dir.path(), None).unwrap();
        assert_eq!(
            store2.get("ns", "api-key").unwrap().unwrap(),
            b"plaintext-value-123"
        );
        // Moved to another name: authentication fails.
        fs::create_dir_all(dir.path().join("secrets/other")).unwrap();
        fs::copy(&path, dir.path().join("secrets/other/api-key")).unwrap();
        assert!(store.get("other", "api-key").is_err());
        assert_eq!(store.list("ns").unwrap(), vec!["api-key".to_owned()]);
        assert!(store.delete("ns", "api-key").unwrap());
        assert!(!store.delete("ns", "api-key").unwrap());
    }

    #[test]
    fn a_key_file_outside_the_data_dir_is_used_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let key = dir.path().join("elsewhere/faas.key");
        let store = SecretStore::open(&data, Some(&key)).unwrap();
        store.put("ns", "s", b"value").unwrap();
        assert!(
            !data.join("keys").exists(),
            "no key directory in the data dir"
        );
        assert_eq!(fs::read(&key).unwrap().len(), KEY_LEN);
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = SecretStore::open(&data, Some(&key)).unwrap();
        assert_eq!(again.get("ns", "s").unwrap().unwrap(), b"value");

        // Another key: refused at open, naming the key file.
        let other = dir.path().join("other.key");
        fs::write(&other, [7u8; KEY_LEN]).unwrap();
        let err = SecretStore::open(&data, Some(&other)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, LocalError::SecretsKey { .. }), "{text}");
        assert!(
            text.contains("other.key") && text.contains("not the key"),
            "{text}"
        );
        // A key of the wrong size.
        fs::write(&other, b"short").unwrap();
        let text = SecretStore::open(&data, Some(&other))
            .unwrap_err()
            .to_string();
        assert!(text.contains("32 bytes"), "{text}");
        // A missing key while secrets exist: refused, no new key created.
        let missing = dir.path().join("missing.key");
        let text = SecretStore::open(&data, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("not found") && text.contains("restore"),
            "{text}"
        );
        assert!(!missing.exists());
    }

    #[test]
    fn a_data_dir_without_key_check_is_verified_against_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path(), None).unwrap();
        store.put("ns", "s", b"value").unwrap();
        drop(store);
        // As written by a release without the check file.
        fs::remove_file(dir.path().join("secrets").join(KEY_CHECK_FILE)).unwrap();
        let key = dir.path().join("keys/secrets.key");
        let good = fs::read(&key).unwrap();
        fs::write(&key, [9u8; KEY_LEN]).unwrap();
        let err = SecretStore::open(dir.path(), None).unwrap_err();
        assert!(matches!(err, LocalError::SecretsKey { .. }), "{err}");
        fs::write(&key, &good).unwrap();
        let store = SecretStore::open(dir.path(), None).unwrap();
        assert_eq!(store.get("ns", "s").unwrap().unwrap(), b"value");
        assert!(dir.path().join("secrets").join(KEY_CHECK_FILE).is_file());
        // Moving the default key elsewhere without moving the file: the error says where it is.
        let text = SecretStore::open(dir.path(), Some(&dir.path().join("new/k")))
            .unwrap_err()
            .to_string();
        assert!(text.contains("keys/secrets.key"), "{text}");
    }
}
