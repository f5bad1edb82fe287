//! mccd-macos: the mcc daemon on macOS (utun device, `/etc/resolver` DNS). `mccd-macos
//! CONFIG_DIR` runs a node; `-C` prints the default configuration; `--print-plist` prints
//! the launchd job. On other platforms it only says "macOS only" and exits 2.
//!
//! Not built or run on macOS by this project's CI (Linux only); see the crate README.

#[cfg(not(target_os = "macos"))]
fn main() -> std::process::ExitCode {
    eprintln!("mccd-macos: macOS only");
    std::process::ExitCode::from(2)
}

#[cfg(target_os = "macos")]
fn main() -> std::process::ExitCode {
    macos::main()
}

#[cfg(target_os = "macos")]
mod macos {
    use clap::Parser;
    use mcc_macos::launchd;
    use mcc_macos::platform::MacosPlatform;
    use mcc_std::{config, daemon};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    #[derive(Parser)]
    #[command(
        name = "mccd",
        version,
        about = "mcc daemon for macOS: runs a node of the mcc overlay network"
    )]
    struct Args {
        /// Print the default configuration file (every key, its default and a comment).
        #[arg(short = 'C', long = "print-config")]
        print_config: bool,
        /// Print the launchd job (/Library/LaunchDaemons/io.staex.mcc.plist) for this
        /// binary and CONFIG_DIR (default /etc/mcc).
        #[arg(long)]
        print_plist: bool,
        /// With --print-plist: start the daemon at boot.
        #[arg(long, requires = "print_plist")]
        run_at_load: bool,
        /// Configuration directory holding mcc.conf (e.g. /etc/mcc).
        config_dir: Option<PathBuf>,
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        if args.print_config {
            print!("{}", config::default_config_text());
            return ExitCode::SUCCESS;
        }
        if args.print_plist {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/usr/local/bin/mccd".into());
            let dir = args
                .config_dir
                .as_deref()
                .unwrap_or(Path::new("/etc/mcc"))
                .display()
                .to_string();
            return match launchd::Job::mcc(&exe, &dir, args.run_at_load).plist() {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mccd: {e}");
                    ExitCode::from(1)
                }
            };
        }
        let Some(dir) = args.config_dir else {
            eprintln!("mccd: missing CONFIG_DIR (e.g. mccd /etc/mcc); see mccd --help");
            return ExitCode::from(2);
        };
        match daemon::serve(&dir, MacosPlatform) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let msg = mcc_macos::error_chain(&e);
                eprintln!("mccd: {msg}");
                tracing::error!("{msg}");
                ExitCode::from(1)
            }
        }
    }
}
