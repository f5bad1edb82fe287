//! The certificates mccd uses: the node's, the networks', the tunnels' (from the files
//! mcc.conf names).

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mcc_core::cert::CertKind;
use mcc_std::clock::rfc3339;
use mcc_std::config::load_tunnels;
use mcc_std::store;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct CertificateRow {
    /// `ca`, `network`, `node` or `tunnel`.
    pub kind: String,
    /// The certified key's ID (a tunnel's: its server endpoint).
    pub subject: String,
    pub issuer: String,
    /// The name a CA or network certificate carries (empty for nodes and tunnels).
    pub name: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    pub file: String,
    /// Why the file could not be read (then the other fields are empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn row(file: &Path) -> CertificateRow {
    match store::read_certificate(file) {
        Ok(c) => CertificateRow {
            kind: match c.body.kind {
                CertKind::Ca => "ca",
                CertKind::Network => "network",
                CertKind::Node => "node",
                CertKind::Tunnel => "tunnel",
            }
            .into(),
            subject: c.subject().to_string(),
            issuer: c.body.issuer.to_string(),
            name: c.body.name.clone(),
            not_before: rfc3339(c.body.not_before),
            not_after: rfc3339(c.body.not_after),
            file: file.display().to_string(),
            error: None,
        },
        Err(e) => CertificateRow {
            kind: String::new(),
            subject: String::new(),
            issuer: String::new(),
            name: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            file: file.display().to_string(),
            error: Some(e.to_string()),
        },
    }
}

/// The node, network and tunnel certificates.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates",
    responses((status = 200, body = [CertificateRow]), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn certificates(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<CertificateRow>>> {
    let cfg = st.mccd.config()?;
    let rows = tokio::task::spawn_blocking(move || {
        let mut rows = vec![row(&cfg.node_certificate)];
        rows.extend(cfg.network_certificates.iter().map(|p| row(p)));
        match load_tunnels(&cfg.tunnels) {
            Ok(ts) => rows.extend(ts.iter().map(|t| row(&t.certificate))),
            Err(e) => rows.push(CertificateRow {
                kind: "tunnel".into(),
                subject: String::new(),
                issuer: String::new(),
                name: String::new(),
                not_before: String::new(),
                not_after: String::new(),
                file: cfg.tunnels.display().to_string(),
                error: Some(e.to_string()),
            }),
        }
        rows
    })
    .await
    .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
    Ok(Json(rows))
}
