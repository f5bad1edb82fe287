//! mccd: the mcc daemon. `mccd CONFIG_DIR` runs a node; `mccd -C` prints the default
//! configuration; `mccd --version` prints the version.

use clap::Parser;
use mcc_linux::platform::LinuxPlatform;
use mcc_std::{config, daemon};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mccd",
    version,
    about = "mcc daemon: runs a node of the mcc overlay network"
)]
pub(crate) struct Args {
    /// Print the default configuration file (every key, its default and a comment).
    #[arg(short = 'C', long = "print-config")]
    print_config: bool,
    /// Configuration directory holding mcc.conf (e.g. /etc/mcc).
    config_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_config {
        print!("{}", config::default_config_text());
        return ExitCode::SUCCESS;
    }
    let Some(dir) = args.config_dir else {
        eprintln!("mccd: missing CONFIG_DIR (e.g. mccd /etc/mcc); see mccd --help");
        return ExitCode::from(2);
    };
    match daemon::serve(&dir, LinuxPlatform::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = mcc_linux::error_chain(&e);
            eprintln!("mccd: {msg}");
            tracing::error!("{msg}");
            ExitCode::from(1)
        }
    }
}
