//! `mcc-web`: the web daemon's command line.

use clap::{Parser, Subcommand};
use mcc_web::config::{self, DEFAULT_DIR};
use mcc_web::{api, password, server};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The MCC web daemon: web UI, REST API (OpenAPI 3.1) and Prometheus metrics for the
/// mccd of this host.
#[derive(Parser)]
#[command(name = "mcc-web", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Print the default configuration file (mcc-web.conf) and exit.
    #[arg(short = 'C', long = "print-default-config")]
    print_default: bool,
    /// The configuration directory (its mcc-web.conf; a missing file means every default).
    #[arg(value_name = "CONFIG-DIR")]
    config_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set the password (argon2id) in password-file, written atomically with mode 0600.
    SetPassword {
        #[arg(value_name = "CONFIG-DIR")]
        config_dir: Option<PathBuf>,
        /// Read the password from the first line of standard input instead of asking twice.
        #[arg(long)]
        stdin: bool,
    },
    /// Print the OpenAPI 3.1 document of the REST API.
    Openapi,
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "mcc-web: {e}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    mcc_web::malloc::tune();
    let cli = Cli::parse();
    if cli.print_default {
        print!("{}", config::default_config_text());
        return ExitCode::SUCCESS;
    }
    match cli.cmd {
        Some(Cmd::Openapi) => {
            let doc = api::document().to_pretty_json();
            match doc {
                Ok(d) => {
                    println!("{d}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Some(Cmd::SetPassword { config_dir, stdin }) => set_password(config_dir, stdin),
        None => run(cli.config_dir),
    }
}

fn load(dir: Option<PathBuf>) -> Result<config::WebConfig, config::WebConfigError> {
    config::load(&dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)))
}

fn set_password(dir: Option<PathBuf>, stdin: bool) -> ExitCode {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let pw = if stdin {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return fail(format!("standard input: {e}"));
        }
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = match rpassword::prompt_password("New password: ") {
            Ok(p) => p,
            Err(e) => return fail(format!("reading the password: {e} (use --stdin)")),
        };
        match rpassword::prompt_password("Again: ") {
            Ok(p) if p == first => first,
            Ok(_) => return fail("the passwords differ; nothing changed"),
            Err(e) => return fail(format!("reading the password: {e}")),
        }
    };
    match password::set(&cfg.password_file, &pw) {
        Ok(()) => {
            println!("{}", cfg.password_file.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run(dir: Option<PathBuf>) -> ExitCode {
    let cfg = match load(dir) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("mcc_web={0},mcc_std={0}", cfg.log_level))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // One thread for the server and a few for blocking control calls, argon2 and files:
    // the daemon runs on routers.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("runtime: {e}")),
    };
    match rt.block_on(server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
