//! The web console (issue 14): static pages served at `/console/`, `/` redirected there.
//!
//! The console's files (`crates/server/console/`: HTML, CSS, plain JavaScript modules) are
//! compiled into the binary, so it needs no network and no build step. The pages are public;
//! every data call they make carries the bearer token the user signs in with and goes through
//! the v1 API like any client's, so the console can show nothing a token may not read. A
//! Content-Security-Policy lets the pages load and call nothing but this origin.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use domain::{Code, Rejection};

/// Where the console lives.
pub const PREFIX: &str = "/console/";

/// What the pages may load and call: this origin only, no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every file of the console: its name under `/console/`, its content type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../console/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../console/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../console/api.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("../console/i18n.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../console/dom.js")),
    ("chart.js", "text/javascript; charset=utf-8", include_bytes!("../console/chart.js")),
    ("account.js", "text/javascript; charset=utf-8", include_bytes!("../console/account.js")),
    ("settlement.js", "text/javascript; charset=utf-8", include_bytes!("../console/settlement.js")),
    ("audit.js", "text/javascript; charset=utf-8", include_bytes!("../console/audit.js")),
    ("operations.js", "text/javascript; charset=utf-8", include_bytes!("../console/operations.js")),
];

/// The console's routes: `/` and `/console` redirect to `/console/`, which serves the page.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary(PREFIX) }))
        .route("/console", get(|| async { Redirect::temporary(PREFIX) }))
        .route(PREFIX, get(|| async { file("index.html") }))
        .route("/console/{*name}", get(|Path(name): Path<String>| async move { file(&name) }))
}

/// A file of the console, or the API's JSON 404.
fn file(name: &str) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(known, _, _)| *known == name) else {
        return crate::routes::error_response(&Rejection::new(Code::NotFound, "no such file of the console"));
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change with the binary: a browser checks again rather than keep an old one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every module the pages import is served: a file named in an `import ... from
    // "./x.js"` or a `<script src>`/`<link href>` of index.html is in `FILES`.
    #[test]
    fn every_file_referenced_is_served() {
        let served: Vec<&str> = FILES.iter().map(|(name, _, _)| *name).collect();
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).expect("the console's files are UTF-8");
            for quote in ['"', '\''] {
                for piece in text.split(quote).skip(1).step_by(2) {
                    if let Some(file) = piece.strip_prefix("./") {
                        assert!(served.contains(&file), "{name} refers to {file}, which is not served");
                    }
                }
            }
        }
    }

    // Proves what the router answers: `/` and `/console` lead to `/console/`, the page and
    // each file come with their content type and the policy that allows this origin only, and
    // a file the console does not have is the API's JSON 404.
    #[tokio::test]
    async fn pages_redirects_and_headers() {
        use tower::ServiceExt;
        let get = |path: &str| {
            let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
            routes::<()>().oneshot(request)
        };
        for path in ["/", "/console"] {
            let response = get(path).await.unwrap();
            assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT, "{path}");
            assert_eq!(response.headers()[header::LOCATION], PREFIX, "{path}");
        }
        for (path, content_type) in [
            ("/console/", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/style.css", "text/css; charset=utf-8"),
        ] {
            let response = get(path).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(
                response.headers()[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        }
        let response = get("/console/nothing.js").await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    // Proves the console loads nothing from elsewhere: no file names another origin.
    #[test]
    fn no_remote_origin() {
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).expect("UTF-8");
            for scheme in ["http://", "https://", "//cdn"] {
                let hits: Vec<&str> = text.match_indices(scheme).map(|(at, _)| &text[at..]).collect();
                // The SVG namespace is a name, not a place anything is loaded from.
                let remote = hits.iter().any(|rest| !rest.starts_with("http://www.w3.org/2000/svg"));
                assert!(!remote, "{name} names a remote origin");
            }
        }
    }
}
