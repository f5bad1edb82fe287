//! mccd's recent events, and the new ones as they come (server-sent events). mccd keeps
//! its last events without sequence numbers; the stream polls them every second and sends
//! what follows the part it has already seen.

use crate::auth::Authenticated;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use futures_util::Stream;
use mcc_std::control::Request;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// How often the stream asks mccd.
pub const POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventRow {
    /// RFC 3339.
    pub time: String,
    pub event: String,
}

async fn recent(st: &AppState) -> ApiResult<Vec<EventRow>> {
    let v = st
        .mccd
        .ask(Request::Events, StatusCode::BAD_GATEWAY)
        .await?;
    serde_json::from_value(v)
        .map_err(|e| crate::error::ApiError::new(StatusCode::BAD_GATEWAY, format!("events: {e}")))
}

/// mccd's recent events, oldest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, body = [EventRow]), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn events(State(st): State<Arc<AppState>>) -> ApiResult<Json<Vec<EventRow>>> {
    Ok(Json(recent(&st).await?))
}

/// The events of `new` after those already in `old`: `new` starts with some suffix of
/// `old` (the log dropped older ones and appended), the longest such overlap is taken.
pub fn fresh<'a>(old: &[EventRow], new: &'a [EventRow]) -> &'a [EventRow] {
    let max = old.len().min(new.len());
    for m in (1..=max).rev() {
        if old[old.len() - m..] == new[..m] {
            return &new[m..];
        }
    }
    new
}

/// New events as `text/event-stream`: one `data: {"time","event"}` each. The stream ends
/// when its session does (logout or timeout).
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events",
    responses((status = 200, description = "text/event-stream of EventRow", content_type = "text/event-stream", body = EventRow),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stream(
    State(st): State<Arc<AppState>>,
    Extension(a): Extension<Authenticated>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let seen = recent(&st).await?;
    let s = futures_util::stream::unfold(
        (
            st,
            a.cookie,
            seen,
            std::collections::VecDeque::<EventRow>::new(),
        ),
        |(st, cookie, mut seen, mut queue)| async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    return Some((Ok(Event::default().data(data)), (st, cookie, seen, queue)));
                }
                tokio::time::sleep(POLL).await;
                if !st.sessions().is_live(&cookie, st.now()) {
                    return None;
                }
                // mccd restarting: keep the stream, try again next time.
                if let Ok(new) = recent(&st).await {
                    queue.extend(fresh(&seen, &new).iter().cloned());
                    seen = new;
                }
            }
        },
    );
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: &[&str]) -> Vec<EventRow> {
        n.iter()
            .map(|e| EventRow {
                time: "t".into(),
                event: e.to_string(),
            })
            .collect()
    }

    #[test]
    fn only_what_follows_the_seen_part_is_new() {
        assert_eq!(
            fresh(&ev(&["a", "b"]), &ev(&["a", "b", "c"])),
            &ev(&["c"])[..]
        );
        // The log dropped "a" and took two more.
        assert_eq!(
            fresh(&ev(&["a", "b"]), &ev(&["b", "c", "d"])),
            &ev(&["c", "d"])[..]
        );
        assert!(fresh(&ev(&["a", "b"]), &ev(&["a", "b"])).is_empty());
        // Nothing in common (mccd restarted): everything.
        assert_eq!(fresh(&ev(&["a"]), &ev(&["x"])), &ev(&["x"])[..]);
        assert_eq!(fresh(&[], &ev(&["x"])), &ev(&["x"])[..]);
    }
}
