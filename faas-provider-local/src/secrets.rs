//! Secrets encrypted at rest.
//!
//! Each secret is one file `<data_dir>/secrets/<namespace>/<name>` (mode 0600, directories
//! 0700) holding a random 24-byte nonce followed by the XChaCha20-Poly1305 ciphertext of the
//! value, with `namespace/name` as associated data (a file moved to another name does not
//! decrypt). The 256-bit key lives in a separate file, `<data_dir>/keys/secrets.key` (0600),
//! created on first use; back it up apart from the data, or point `keys/` at other storage.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::error::{LocalError, LocalResult};
use crate::fsutil;

const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

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

impl SecretStore {
    /// Opens the store in `data_dir`, creating the key file on first use.
    pub(crate) fn open(data_dir: &Path) -> LocalResult<Self> {
        let keys = data_dir.join("keys");
        fsutil::private_dir(&keys)?;
        let key_path = keys.join("secrets.key");
        let key_bytes = match fs::read(&key_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                fsutil::write_atomic(&key_path, key.as_slice())?;
                key.to_vec()
            }
            Err(e) => return Err(LocalError::io("reading", &key_path)(e)),
        };
        if key_bytes.len() != KEY_LEN {
            return Err(LocalError::Crypto {
                name: key_path.display().to_string(),
                message: "key file must hold 32 bytes",
            });
        }
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key_bytes));
        let dir = data_dir.join("secrets");
        fsutil::private_dir(&dir)?;
        Ok(Self { dir, cipher })
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
        let aad = format!("{namespace}/{name}");
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
                name: aad.clone(),
                message: "encryption failed",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        fsutil::private_dir(&self.dir.join(namespace))?;
        fsutil::write_atomic(&self.path(namespace, name), &out)
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
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Some)
            .map_err(|_| LocalError::Crypto {
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
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secrets_are_encrypted_private_and_bound_to_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(dir.path()).unwrap();
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
        let store2 = SecretStore::open(dir.path()).unwrap();
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
}
