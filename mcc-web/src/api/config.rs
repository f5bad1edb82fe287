//! mccd's configuration file: read it, and replace it (checked with mcc-std's parser
//! first, written atomically, then `mcc-restart-command`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mcc_std::config::CONFIG_FILE;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Longest the restart command may take.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Serialize, ToSchema)]
pub struct ConfigFile {
    pub file: String,
    pub text: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewConfig {
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConfigApplied {
    /// The restart command exited with status 0.
    pub restarted: bool,
    /// Its standard output and error.
    pub output: String,
    /// Keys that are accepted but not implemented, with their lines (mccd warns about them).
    pub warnings: Vec<String>,
}

/// mccd's mcc.conf.
#[utoipa::path(get, path = "/api/v1/config", tag = "config",
    responses((status = 200, body = ConfigFile), (status = 401, body = ErrorBody),
        (status = 500, body = ErrorBody)))]
pub async fn get_config(State(st): State<Arc<AppState>>) -> ApiResult<Json<ConfigFile>> {
    let file = st.cfg.mcc_config_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::internal(format!("{}: {e}", file.display())))?;
    Ok(Json(ConfigFile {
        file: file.display().to_string(),
        text,
    }))
}

/// Replaces mcc.conf and restarts mccd with `mcc-restart-command`.
#[utoipa::path(put, path = "/api/v1/config", tag = "config", request_body = NewConfig,
    responses((status = 200, body = ConfigApplied),
        (status = 400, description = "The text does not parse: the message names the line", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_config(
    State(st): State<Arc<AppState>>,
    Json(c): Json<NewConfig>,
) -> ApiResult<Json<ConfigApplied>> {
    let dir = st.cfg.mcc_config_dir.clone();
    let file = dir.join(CONFIG_FILE);
    let parsed = mcc_std::config::parse(&c.text, &file, &dir)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let warnings = parsed
        .unsupported
        .iter()
        .map(|(line, key)| format!("{}:{line}: {key}: not implemented, ignored", file.display()))
        .collect();
    // Keep the file's mode (it may be readable by a group that runs mcc).
    let mode = std::fs::metadata(&file).map_or(0o644, |m| m.permissions().mode() & 0o777);
    mcc_std::store::write_atomic(&file, c.text.as_bytes(), mode)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    tracing::info!(
        "{} replaced; running {:?}",
        file.display(),
        st.cfg.mcc_restart_command
    );
    let (restarted, output) = restart(&st.cfg.mcc_restart_command).await;
    Ok(Json(ConfigApplied {
        restarted,
        output,
        warnings,
    }))
}

/// Runs the restart command with `/bin/sh -c`: whether it succeeded, and what it said.
async fn restart(command: &str) -> (bool, String) {
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(RESTART_TIMEOUT, child).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                text.push_str(&format!("\n{command}: {}", out.status));
            }
            (out.status.success(), text)
        }
        Ok(Err(e)) => (false, format!("{command}: {e}")),
        Err(_) => (
            false,
            format!("{command}: no answer within {RESTART_TIMEOUT:?}; killed"),
        ),
    }
}
