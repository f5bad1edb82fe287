//! mccd, as the API reaches it: its mcc.conf (read at each request, so a changed file or a
//! restart is seen at once) and its control socket, through [`mcc_std::control::call`],
//! the client `mcc` uses, with the same [`Request`] definitions.

use crate::error::ApiError;
use axum::http::StatusCode;
use mcc_std::config::DaemonConfig;
use mcc_std::control::{self, ControlError, Request};
use std::path::{Path, PathBuf};

/// mccd's configuration directory.
#[derive(Clone, Debug)]
pub struct Mccd {
    pub config_dir: PathBuf,
}

impl Mccd {
    pub fn new(config_dir: &Path) -> Self {
        Mccd {
            config_dir: config_dir.to_path_buf(),
        }
    }

    /// mccd's mcc.conf.
    pub fn config(&self) -> Result<DaemonConfig, ApiError> {
        mcc_std::config::load(&self.config_dir).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("mccd's configuration: {e}"),
            )
        })
    }

    /// Asks mccd; its refusal becomes `refused` with mccd's message.
    pub async fn ask(
        &self,
        req: Request,
        refused: StatusCode,
    ) -> Result<serde_json::Value, ApiError> {
        let socket = self.config()?.unix_socket_path;
        let name = req.name();
        let r = tokio::task::spawn_blocking(move || control::call(&socket, req))
            .await
            .map_err(|e| ApiError::internal(format!("control request: {e}")))?;
        match r {
            Ok(resp) if resp.ok => Ok(resp.result),
            Ok(resp) => Err(ApiError::new(
                refused,
                resp.error.unwrap_or_else(|| format!("{name}: refused")),
            )),
            Err(e @ ControlError::Connect { .. }) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            )),
            Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())),
        }
    }
}
