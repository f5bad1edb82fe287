//! The REST API: its routes and the OpenAPI 3.1 document generated from them (utoipa), so
//! the document lists exactly the routes the router serves.

pub mod certificates;
pub mod config;
pub mod events;
pub mod node;
pub mod session;
pub mod tunnels;

use crate::state::AppState;
use axum::Json;
use axum::response::IntoResponse;
use std::sync::{Arc, OnceLock};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcc-web",
        description = "REST API of the MCC web daemon: the state of an mccd node, its tunnels, certificates, events and configuration. Every route but GET/POST /api/v1/login needs the session cookie mcc-web-session; every POST, PUT and DELETE also needs the header X-CSRF-Token. Errors are {\"status\": CODE, \"error\": MESSAGE}."
    ),
    modifiers(&Security),
    security(("session" = []), ("session" = [], "csrf" = [])),
    tags(
        (name = "session", description = "Login, logout, the session"),
        (name = "node", description = "This node and the network it sees"),
        (name = "tunnels", description = "Tunnels of this node"),
        (name = "certificates", description = "Certificates in use"),
        (name = "events", description = "mccd's events"),
        (name = "config", description = "mccd's configuration file"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Set by POST /api/v1/login",
            ))),
        );
        c.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The csrf_token of the session (or of the login form for POST /api/v1/login); needed by POST, PUT and DELETE",
            ))),
        );
    }
}

/// The API's routes with their documentation.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login_form, session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::session))
        .routes(routes!(node::node))
        .routes(routes!(node::nodes))
        .routes(routes!(node::topology))
        .routes(routes!(node::route))
        .routes(routes!(node::resolve))
        .routes(routes!(node::status))
        .routes(routes!(tunnels::list, tunnels::create))
        .routes(routes!(tunnels::revoke))
        .routes(routes!(certificates::certificates))
        .routes(routes!(events::events))
        .routes(routes!(events::stream))
        .routes(routes!(config::get_config, config::put_config))
        .routes(routes!(openapi))
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

fn document_json() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(document()).expect("the document serializes"))
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value),
        (status = 401, body = crate::error::ErrorBody)))]
pub async fn openapi() -> impl IntoResponse {
    Json(document_json().clone())
}
