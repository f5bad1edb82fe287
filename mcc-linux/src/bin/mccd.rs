//! mccd: the mcc daemon. `mccd [CONFIG_DIR]` runs a node (/etc/mcc by default); `mccd -C`
//! prints the default configuration; `mccd --version` prints the version.

use clap::Parser;
use mcc_linux::platform::LinuxPlatform;
use mcc_std::{config, daemon};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mccd",
    version,
    about = "mcc daemon: runs a node of the mcc overlay network",
    after_help = "Exit codes:\n  0  stopped by SIGTERM or SIGINT\n  1  could not start or failed (the message names the file or key)\n  2  bad usage"
)]
pub(crate) struct Args {
    /// Print the default configuration file (every key, its default and a comment).
    #[arg(short = 'C', long = "print-config")]
    print_config: bool,
    /// Configuration directory holding mcc.conf.
    #[arg(default_value = "/etc/mcc")]
    config_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_config {
        // A reader that stops early (mccd -C | head) is no failure.
        let _ = std::io::stdout().write_all(config::default_config_text().as_bytes());
        return ExitCode::SUCCESS;
    }
    match daemon::serve(&args.config_dir, LinuxPlatform::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = mcc_linux::error_chain(&e);
            eprintln!("mccd: {msg}");
            tracing::error!("{msg}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn runs_etc_mcc_without_an_argument_and_every_option_has_help() {
        let a = Args::try_parse_from(["mccd"]).unwrap();
        assert_eq!(a.config_dir, PathBuf::from("/etc/mcc"));
        let a = Args::try_parse_from(["mccd", "/srv/node"]).unwrap();
        assert_eq!(a.config_dir, PathBuf::from("/srv/node"));
        let mut cmd = Args::command();
        cmd.build();
        for arg in cmd.get_arguments() {
            assert!(arg.get_help().is_some(), "{} has no help", arg.get_id());
        }
        assert!(cmd.render_help().to_string().contains("Exit codes:"));
    }
}
