//! On-disk secrets and certificates.
//!
//! Both are one line of standard base64 (with padding) and a trailing newline: a private key
//! file holds the 32-byte Ed25519 secret, a certificate file holds [`Certificate::encoded`].
//! Files are replaced atomically ([`write_atomic`]); private keys are written `0600` and
//! refused on read when group or others may access them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcc_core::cert::{CertError, Certificate};
use mcc_core::crypto::Identity;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of files holding a private key.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public files (certificates, configuration).
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories created on the way to a file.
pub const DIR_MODE: u32 = 0o755;
/// Upper bound of a key or certificate file; anything longer is not one of ours.
const MAX_FILE_LEN: u64 = 4096;

/// Why a key or certificate file could not be read or written. Every message starts with the
/// path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system refused (missing file, permissions, full disk, ...).
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file is not one line of base64.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: TextError },
    /// A private key file that group or others may access.
    #[error("{}: mode {mode:04o} is {what} by others; chmod 600 it", path.display(), what = if mode & 0o044 != 0 { "readable" } else { "accessible" })]
    Permissions { path: PathBuf, mode: u32 },
}

impl StoreError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::Io { path, .. }
            | StoreError::Format { path, .. }
            | StoreError::Permissions { path, .. } => path,
        }
    }
}

/// Why a base64 key or certificate text was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextError {
    /// Not standard base64 with padding; the reason names the position.
    NotBase64(String),
    /// Decoded to the wrong number of bytes for a key.
    KeyLength(usize),
    /// Decoded, but not a certificate.
    Certificate(CertError),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::NotBase64(r) => write!(f, "not base64 ({r})"),
            TextError::KeyLength(n) => write!(f, "expected a 32-byte key, found {n} bytes"),
            TextError::Certificate(e) => write!(f, "certificate: {e}"),
        }
    }
}

impl std::error::Error for TextError {}

fn decode_base64(text: &str) -> Result<Vec<u8>, TextError> {
    use base64::DecodeError as D;
    STANDARD.decode(text.trim()).map_err(|e| {
        TextError::NotBase64(match e {
            D::InvalidByte(at, _) => format!("invalid byte at {at}"),
            D::InvalidLength(n) => format!("invalid length {n}"),
            D::InvalidLastSymbol { offset, .. } => format!("invalid last symbol at {offset}"),
            D::InvalidPadding => "invalid padding".into(),
        })
    })
}

fn identity_from_text(text: &str) -> Result<Identity, TextError> {
    let bytes = decode_base64(text)?;
    let secret: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| TextError::KeyLength(bytes.len()))?;
    Ok(Identity::from_secret(secret))
}

fn certificate_from_text(text: &str) -> Result<Certificate, TextError> {
    Certificate::decode(&decode_base64(text)?).map_err(TextError::Certificate)
}

/// Decodes a private key given as base64 text (surrounding whitespace ignored).
pub fn decode_identity_text(s: &str) -> Result<Identity, String> {
    identity_from_text(s).map_err(|e| e.to_string())
}

/// The base64 text of a private key, without a newline.
pub fn encode_identity_text(id: &Identity) -> String {
    STANDARD.encode(id.secret())
}

/// Decodes a certificate given as base64 text (surrounding whitespace ignored).
pub fn decode_certificate_text(s: &str) -> Result<Certificate, String> {
    certificate_from_text(s).map_err(|e| e.to_string())
}

/// The base64 text of a certificate, without a newline.
pub fn encode_certificate_text(cert: &Certificate) -> String {
    STANDARD.encode(cert.encoded())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a small text file. With `secret`, refuses a file that group or others may access.
fn read_text(path: &Path, secret: bool) -> Result<String, StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    if secret {
        let mode = file.metadata().map_err(io_err(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut text = String::new();
    file.take(MAX_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(io_err(path))?;
    Ok(text)
}

/// Reads a private key file (refused if group or others may access it).
pub fn read_identity(path: &Path) -> Result<Identity, StoreError> {
    identity_from_text(&read_text(path, true)?).map_err(|reason| StoreError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// Writes a private key file, mode `0600`.
pub fn write_identity(path: &Path, id: &Identity) -> Result<(), StoreError> {
    let mut text = encode_identity_text(id);
    text.push('\n');
    write_atomic(path, text.as_bytes(), SECRET_MODE)
}

/// Reads a certificate file. Only the format is checked, not the signature.
pub fn read_certificate(path: &Path) -> Result<Certificate, StoreError> {
    certificate_from_text(&read_text(path, false)?).map_err(|reason| StoreError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// Writes a certificate file, mode `0644`.
pub fn write_certificate(path: &Path, cert: &Certificate) -> Result<(), StoreError> {
    let mut text = encode_certificate_text(cert);
    text.push('\n');
    write_atomic(path, text.as_bytes(), PUBLIC_MODE)
}

/// Replaces `path` with `bytes` so that a reader sees either the old or the new content, even
/// across a crash: a uniquely named temporary file in the same directory is written, synced,
/// given `mode`, renamed over `path`, and the directory is synced. Missing parent directories
/// are created (`0755`).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| StoreError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))?;
    let (tmp, mut file) = loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".{}.{}.{nanos}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(tmp_name);
        // Created with at most `mode` so a secret is never readable by others, even briefly.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(path)(e)),
        }
    };
    let result = (|| {
        file.write_all(bytes)?;
        // The umask may have cleared bits of `mode`: set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcc_core::cert::issue;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn identity_and_certificate_round_trip() {
        let d = dir();
        let id = Identity::from_secret([7; 32]);
        let net = Identity::from_secret([8; 32]);
        let cert = issue::node(&net, &id.id(), 1, 2);
        let kp = d.path().join("a/b/node-private-key.txt");
        let cp = d.path().join("node-certificate.txt");
        write_identity(&kp, &id).unwrap();
        write_certificate(&cp, &cert).unwrap();
        assert_eq!(read_identity(&kp).unwrap().secret(), id.secret());
        assert_eq!(read_certificate(&cp).unwrap(), cert);
        let text = fs::read_to_string(&kp).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        assert_eq!(text.trim(), encode_identity_text(&id));
        assert_eq!(
            decode_identity_text(&format!("  {text}\n")).unwrap().id(),
            id.id()
        );
        assert_eq!(
            decode_certificate_text(&encode_certificate_text(&cert)).unwrap(),
            cert
        );
        assert_eq!(mode_of(&kp), 0o600);
        assert_eq!(mode_of(&cp), 0o644);
        assert_eq!(mode_of(&d.path().join("a/b")), 0o755);
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_file() {
        let d = dir();
        let p = d.path().join("f.txt");
        fs::write(&p, b"old content that is longer").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&p, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(mode_of(&p), 0o600);
        write_atomic(&p, b"newer", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"newer");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.txt")]);
    }

    #[test]
    fn write_atomic_error_names_the_path() {
        let d = dir();
        let p = d.path().join("sub");
        fs::create_dir(&p).unwrap();
        // Renaming a file over a non-empty directory fails.
        fs::write(p.join("x"), b"").unwrap();
        let e = write_atomic(&p, b"x", 0o644).unwrap_err();
        assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "temp file removed"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let d = dir();
        let p = d.path().join("node-private-key.txt");
        let ps = p.display().to_string();
        let err = |r: Result<Identity, StoreError>| r.err().unwrap().to_string();

        assert_eq!(
            err(read_identity(&p)),
            format!("{ps}: No such file or directory (os error 2)")
        );

        write_atomic(&p, b"abc*def\n", 0o600).unwrap();
        assert_eq!(
            err(read_identity(&p)),
            format!("{ps}: not base64 (invalid byte at 3)")
        );

        write_atomic(
            &p,
            format!("{}\n", STANDARD.encode([1u8; 31])).as_bytes(),
            0o600,
        )
        .unwrap();
        assert_eq!(
            err(read_identity(&p)),
            format!("{ps}: expected a 32-byte key, found 31 bytes")
        );

        write_identity(&p, &Identity::from_secret([1; 32])).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            err(read_identity(&p)),
            format!("{ps}: mode 0644 is readable by others; chmod 600 it")
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o620)).unwrap();
        assert!(err(read_identity(&p)).starts_with(&format!("{ps}: mode 0620 ")));

        let c = d.path().join("cert.txt");
        write_atomic(
            &c,
            format!("{}\n", STANDARD.encode([0u8; 70])).as_bytes(),
            0o644,
        )
        .unwrap();
        assert_eq!(
            read_certificate(&c).unwrap_err().to_string(),
            format!("{}: certificate: malformed certificate", c.display())
        );
        assert_eq!(read_certificate(&c).unwrap_err().path(), c);
    }

    #[test]
    fn text_decoders_explain() {
        assert_eq!(
            decode_identity_text("").err().unwrap(),
            "expected a 32-byte key, found 0 bytes"
        );
        assert!(
            decode_certificate_text("@@@@")
                .unwrap_err()
                .starts_with("not base64")
        );
    }
}
