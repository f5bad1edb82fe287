//! `mcc-nsswitch add|remove|check [FILE]`: puts the mcc NSS module on the `hosts:` line
//! of nsswitch.conf (default `/etc/nsswitch.conf`), takes it off, or tells whether it is
//! there, as README.md's installation step. The file is replaced atomically (a temporary
//! file beside it with the same mode, synced, renamed over it) and only when it changes.

use nss_mcc::nsswitch;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: mcc-nsswitch add|remove|check [FILE]

  add     put `mcc [SUCCESS=return]` before `dns` (or `resolve`) on the hosts: line
  remove  take the mcc entry off the hosts: line
  check   exit 0 when the hosts: line names mcc, 1 when not

FILE defaults to /etc/nsswitch.conf. add and remove change nothing when there is nothing
to change. Exit codes: 0 done (check: enabled), 1 check: not enabled, 2 usage or I/O error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, file) = match args.as_slice() {
        [c] => (c.as_str(), PathBuf::from("/etc/nsswitch.conf")),
        [c, f] => (c.as_str(), PathBuf::from(f)),
        _ => return usage(),
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return fail(&file, &e),
    };
    let new = match cmd {
        "add" => nsswitch::add(&text),
        "remove" => nsswitch::remove(&text),
        "check" => {
            let on = nsswitch::is_enabled(&text);
            println!(
                "{}: mcc is {}",
                file.display(),
                if on { "enabled" } else { "not enabled" }
            );
            return if on {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage(),
    };
    if new == text {
        println!("{}: unchanged", file.display());
        return ExitCode::SUCCESS;
    }
    match replace(&file, &new) {
        Ok(()) => {
            let done = if cmd == "add" {
                "added mcc to"
            } else {
                "removed mcc from"
            };
            println!("{}: {done} the hosts: line", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&file, &e),
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn fail(file: &Path, e: &std::io::Error) -> ExitCode {
    eprintln!("mcc-nsswitch: {}: {e}", file.display());
    ExitCode::from(2)
}

/// Writes `text` to a temporary file beside `file` with `file`'s mode, syncs it and
/// renames it over `file`, so readers see the old or the new file, never a part.
fn replace(file: &Path, text: &str) -> std::io::Result<()> {
    let mode = std::fs::metadata(file)?.permissions().mode();
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mcc-nsswitch.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
