//! The web UI's files: from `static-files-path` when that directory exists (an operator's
//! own copy), else the copy of `mcc-web/www/` built into the binary. Public, like any
//! login page; only `/api/` needs a session.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::path::{Component, Path, PathBuf};

#[derive(rust_embed::RustEmbed)]
#[folder = "www/"]
#[allow_missing = true]
struct Embedded;

/// Where the files come from.
#[derive(Clone, Debug)]
pub enum Source {
    Dir(PathBuf),
    Embedded,
}

impl Source {
    pub fn choose(dir: &Path) -> Source {
        if dir.is_dir() {
            Source::Dir(dir.to_path_buf())
        } else {
            Source::Embedded
        }
    }

    /// How many embedded files there are (0: a build without the UI).
    pub fn embedded_files() -> usize {
        Embedded::iter().count()
    }
}

/// The relative path a URI names, without `..` or absolute parts; `/` is `index.html`.
fn relative(uri: &Uri) -> Option<String> {
    let p = uri.path().trim_start_matches('/');
    let p = if p.is_empty() || p.ends_with('/') {
        format!("{p}index.html")
    } else {
        p.to_string()
    };
    Path::new(&p)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

fn answer(path: &str, bytes: Vec<u8>) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // The UI is small and changes with the binary: revalidate rather than cache stale.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

pub async fn serve(source: &Source, uri: Uri) -> Response {
    let Some(rel) = relative(&uri) else {
        return not_found();
    };
    match source {
        Source::Dir(dir) => {
            let file = dir.join(&rel);
            match tokio::fs::read(&file).await {
                Ok(b) => answer(&rel, b),
                Err(_) => not_found(),
            }
        }
        Source::Embedded => match Embedded::get(&rel) {
            Some(f) => answer(&rel, f.data.into_owned()),
            None => not_found(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        let r = |s: &str| relative(&s.parse::<Uri>().unwrap());
        assert_eq!(r("/").as_deref(), Some("index.html"));
        assert_eq!(r("/vendor/x.js").as_deref(), Some("vendor/x.js"));
        assert_eq!(r("/vendor/").as_deref(), Some("vendor/index.html"));
        assert_eq!(r("/../etc/passwd"), None);
        assert_eq!(r("/a/../../b"), None);
    }
}
