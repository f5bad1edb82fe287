//! The password file: one argon2id hash in PHC string format (parameters and salt
//! inside), written atomically with mode 0600.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] mcc_std::store::StoreError),
    #[error(
        "{}: no password set (run `mcc-web set-password`)",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an argon2 PHC string: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
}

/// The argon2id PHC hash of `password` with `params` and a fresh salt.
pub fn hash_with(password: &str, params: Params) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// The parameters `set-password` uses: one of OWASP's equivalent argon2id settings, 7 MiB
/// and 5 passes rather than the crate's 19 MiB and 2, because each login briefly holds that
/// memory and mcc-web runs on routers. (Verification takes the parameters from the hash, so
/// a hash made with others still works.)
pub fn params() -> Params {
    Params::new(7 * 1024, 5, 1, None).expect("valid argon2 parameters")
}

/// The argon2id hash with [`params`].
pub fn hash(password: &str) -> Result<String, PasswordError> {
    hash_with(password, params())
}

/// Writes the hash of `password` to `file` (temp file, fsync, rename; mode 0600).
pub fn set(file: &Path, password: &str) -> Result<(), PasswordError> {
    let mut text = hash(password)?;
    text.push('\n');
    mcc_std::store::write_atomic(file, text.as_bytes(), 0o600)?;
    Ok(())
}

/// Reads the hash of `file` (checked to be a PHC string).
pub fn read(file: &Path) -> Result<String, PasswordError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PasswordError::Missing(file.to_path_buf())
        } else {
            PasswordError::Io {
                path: file.to_path_buf(),
                source: e,
            }
        }
    })?;
    let phc = text.trim().to_string();
    PasswordHash::new(&phc).map_err(|e| PasswordError::Format {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(phc)
}

/// Whether `password` matches the PHC hash `phc` (its own parameters).
pub fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when no password is set, so that the answer takes as long as
/// with one.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::token::new_token()).expect("hashing a random password"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let p = Params::new(8, 1, 1, None).unwrap();
        let h = hash_with("secret", p).unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify(&h, "secret"));
        assert!(!verify(&h, "Secret"));
        assert!(!verify("garbage", "secret"));
        assert!(matches!(
            hash_with("", Params::default()),
            Err(PasswordError::Empty)
        ));
    }
}
