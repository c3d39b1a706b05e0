//! The API's error responses: a status code and a small JSON body `{"error": code, "message":
//! text}`. Messages say what was wrong with the request; they never carry key material, and
//! internal failures (index, blob store, chain) are reported by kind, not by their details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds to wait, sent as `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid session.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first (no valid session)",
        )
    }

    /// 403.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 429 with the seconds to wait.
    pub fn too_many(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                format!("too many requests; retry after {retry_after} s"),
            )
        }
    }

    /// 503 `busy` with `Retry-After`: the escrow is at its bound of work of this kind (e.g.
    /// concurrent uploads) and sheds the request before reading it, rather than queue it until
    /// the client times out.
    pub fn busy(what: &str, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::unavailable(
                "busy",
                format!(
                    "the escrow is at its bound of concurrent {what}; retry after {retry_after} s"
                ),
            )
        }
    }

    /// 503: a dependency (chain, index, blob store, access log) is unavailable; nothing released.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 500 for an internal failure, logged by kind.
    pub fn internal(what: &'static str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(what, error = %err, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error ({what})"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(medledger_protocol::api::ErrorBody {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> ApiError {
        tracing::error!(error = %e, "index error");
        ApiError::unavailable("index-unavailable", "the index is unavailable")
    }
}

impl From<crate::blobs::BlobError> for ApiError {
    fn from(e: crate::blobs::BlobError) -> ApiError {
        // Not the error's text: it names the blob's key, and with it the record.
        tracing::error!(error = e.kind(), "blob store error");
        ApiError::unavailable("blobs-unavailable", "the blob store is unavailable")
    }
}

impl From<crate::chain::ChainError> for ApiError {
    fn from(e: crate::chain::ChainError) -> ApiError {
        tracing::warn!(error = %e, "chain error");
        ApiError::unavailable(
            "chain-unavailable",
            "the chain could not be asked; nothing is released without its answer",
        )
    }
}
/// A JSON request body, as `axum::Json`, whose rejection (malformed JSON, a missing field, no
/// `Content-Type: application/json`) answers in the API's error shape: `bad-json` with axum's
/// status (400, 415 or 422) and its description.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(e) => Err(ApiError::new(e.status(), "bad-json", e.body_text())),
        }
    }
}

/// A query string, as `axum::extract::Query`, whose rejection answers in the API's error shape:
/// 400 `bad-query` with axum's description.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(e) => Err(ApiError::new(e.status(), "bad-query", e.body_text())),
        }
    }
}
