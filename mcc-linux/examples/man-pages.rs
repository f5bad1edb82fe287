//! Writes the man pages of `mcc` (section 1, one page per subcommand: `mcc-init.1`, ...)
//! and `mccd` (section 8) into a directory, from the same clap definitions the binaries
//! parse with, so the pages cannot drift from `--help`. `scripts/package.sh` runs it:
//!
//!     cargo run --release -p mcc-linux --example man-pages -- OUT_DIR

// The binaries' own sources, for their `Cli`/`Args` types (their `main` is unused here).
#[allow(dead_code)]
#[path = "../src/bin/mcc.rs"]
mod mcc;
#[allow(dead_code)]
#[path = "../src/bin/mccd.rs"]
mod mccd;

use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: man-pages OUT_DIR");
        return ExitCode::from(2);
    };
    let written = std::fs::create_dir_all(&out)
        .and_then(|()| clap_mangen::generate_to(mcc::Cli::command(), &out))
        .and_then(|()| {
            clap_mangen::Man::new(mccd::Args::command())
                .section("8")
                .generate_to(&out)
        });
    match written {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("man-pages: {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}
