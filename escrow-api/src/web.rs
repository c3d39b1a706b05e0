//! What the escrow tells and asks browsers: the request-origin rule for state-changing requests
//! (a cookie authorises them, so a cross-site form must not be able to send one), the security
//! headers on every response, and the content-security policies of the API, the console and the
//! app's page. The rules are stated in docs/api.md ("Browsers").

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reqwest::Url;

use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::server::AppState;

/// The policy of API responses (JSON, C1 bytes, metrics): nothing to load, not to be framed.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console page's policy: its own inline script and style (the page has no build step and
/// loads no third-party code), calls to this escrow only, never framed.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`; `None` for a
/// URL without one (not http or https, or unparsable).
pub fn origin_of(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// The browser-facing policy, fixed at start from the configuration.
#[derive(Debug, Clone)]
pub struct WebPolicy {
    /// The escrow's public origin (from `public_url`).
    pub public_origin: String,
    /// Origins allowed to send state-changing requests: the public one and `allowed_origins`.
    pub allowed: Vec<String>,
    /// The app page's content-security policy.
    pub app_csp: HeaderValue,
}

impl WebPolicy {
    /// From a configuration (already validated: its URLs parse).
    pub fn new(config: &Config) -> Result<WebPolicy, ConfigError> {
        let public_origin = config.public_origin()?;
        let mut allowed = vec![public_origin.clone()];
        for o in &config.allowed_origins {
            allowed.push(origin_of(o).ok_or_else(|| {
                ConfigError::Invalid(format!("allowed_origins: {o:?} is not an http(s) origin"))
            })?);
        }
        let rpc = config.public_rpc_url.as_deref().unwrap_or(&config.rpc_url);
        let rpc_origin = origin_of(rpc).ok_or_else(|| {
            ConfigError::Invalid(format!("the public RPC URL {rpc:?} is not an http(s) URL"))
        })?;
        let app_csp = HeaderValue::from_str(&app_csp(&rpc_origin)).map_err(|_| {
            ConfigError::Invalid(format!("the public RPC URL {rpc:?} cannot go in a header"))
        })?;
        Ok(WebPolicy {
            public_origin,
            allowed,
            app_csp,
        })
    }

    /// Whether a state-changing request may come from a page of `origin`.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed.iter().any(|a| a == origin)
    }

    /// Whether a SIWE message's URI points at this escrow (same origin as its public URL).
    pub fn is_own_uri(&self, uri: &str) -> bool {
        origin_of(uri).is_some_and(|o| o == self.public_origin)
    }
}

/// The app page's policy: only its own scripts, WASM (`'wasm-unsafe-eval'` is what compiling a
/// WebAssembly module needs; no JavaScript `eval`), styles and images (`blob:` for records the
/// page opened), calls to this escrow, to the chain's RPC URL and to the page's own object URLs
/// (`blob:`: reading back a record it decrypted), never framed.
fn app_csp(rpc_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self' blob: {rpc_origin}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The origin a browser says a request comes from: `Origin`, or lacking it the origin of
/// `Referer`. `Some(None)` when a header is there but names no origin (`Origin: null` from a
/// sandboxed frame, an unparsable value); `None` when neither is sent (not a browser).
fn claimed_origin(headers: &HeaderMap) -> Option<Option<String>> {
    let header_text = |name| headers.get(name).map(|v: &HeaderValue| v.to_str().ok());
    if let Some(origin) = header_text(header::ORIGIN) {
        return Some(origin.and_then(origin_of));
    }
    header_text(header::REFERER).map(|referer| referer.and_then(origin_of))
}

/// Middleware: a state-changing request (any method but GET, HEAD, OPTIONS, TRACE) is refused
/// with 403 `cross-origin` when its `Origin` (or, lacking it, `Referer`) is present and is not
/// the escrow's public origin or a configured allowed origin. The session cookie is
/// SameSite=Strict too; this does not depend on every browser honouring that.
pub async fn same_origin_writes(
    State(st): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !request.method().is_safe() {
        if let Some(origin) = claimed_origin(request.headers()) {
            if !origin.as_deref().is_some_and(|o| st.web.allows(o)) {
                return ApiError::forbidden(
                    "cross-origin",
                    format!(
                        "state-changing requests are accepted from {} only",
                        st.web.public_origin
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// Middleware: the headers every response carries, and the API's content-security policy on
/// those that set none of their own (the console and the app's files set theirs).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
    }
    response
}

/// Middleware on the app's files: the app page's policy.
pub async fn app_policy(State(st): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, st.web.app_csp.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).expect("value"));
        }
        h
    }

    #[test]
    fn origins_are_normalised_like_browsers_send_them() {
        assert_eq!(
            origin_of("https://records.example/app?x=1").as_deref(),
            Some("https://records.example")
        );
        assert_eq!(
            origin_of("https://records.example:443").as_deref(),
            Some("https://records.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("file:///etc/passwd"), None);
        assert_eq!(origin_of("javascript:alert(1)"), None);
    }

    #[test]
    fn the_claimed_origin_is_origin_then_referer() {
        assert_eq!(claimed_origin(&HeaderMap::new()), None);
        assert_eq!(
            claimed_origin(&headers(&[(header::ORIGIN, "https://evil.example")])),
            Some(Some("https://evil.example".into()))
        );
        assert_eq!(
            claimed_origin(&headers(&[(header::ORIGIN, "null")])),
            Some(None)
        );
        assert_eq!(
            claimed_origin(&headers(&[(
                header::REFERER,
                "https://evil.example/form.html"
            )])),
            Some(Some("https://evil.example".into()))
        );
        // Origin wins over Referer.
        assert_eq!(
            claimed_origin(&headers(&[
                (header::ORIGIN, "https://evil.example"),
                (header::REFERER, "http://127.0.0.1:8080/")
            ])),
            Some(Some("https://evil.example".into()))
        );
    }

    #[test]
    fn the_policy_allows_the_public_and_configured_origins_only() {
        let config = Config {
            public_url: Some("https://records.example".into()),
            allowed_origins: vec!["https://admin.records.example/".into()],
            public_rpc_url: Some("https://rpc.records.example/v1".into()),
            ..Config::default()
        };
        let web = WebPolicy::new(&config).expect("policy");
        assert!(web.allows("https://records.example"));
        assert!(web.allows("https://admin.records.example"));
        assert!(!web.allows("http://records.example"));
        assert!(!web.allows("https://evil.example"));
        assert!(web.is_own_uri("https://records.example/"));
        assert!(!web.is_own_uri("https://records.example.evil.example"));
        let csp = web.app_csp.to_str().expect("ascii");
        assert!(
            csp.contains("connect-src 'self' blob: https://rpc.records.example;"),
            "{csp}"
        );
        assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    }
}
