//! The agent's HTTP routes. Every failure is a 4xx/5xx with a JSON body
//! `{"error": "one sentence: what is wrong, what to do"}`.
//!
//! API listener (`--listen`, loopback by default; bearer token when `--token-file` is set):
//! - `POST /recordings` — body [`RecordingRequest`]; 202 with the recording's status and a
//!   `Location` header; 400 bad request, 404 target not on this node, 429 too many at once.
//! - `GET /recordings` — every recording kept, oldest first.
//! - `GET /recordings/{id}` — one recording's status.
//! - `GET /recordings/{id}/run` — its run file (JSON) once done; 409 while running or failed.
//! - `POST /recordings/{id}/cancel` — stop it now; its run covers the time until then.
//! - `GET /metrics`, `GET /healthz` — also on the read-only `--metrics-listen` listener.
use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use subtle::ConstantTimeEq as _;

use super::{
    metrics::Metrics,
    recordings::{RecordingRequest, Recordings, Status},
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub recordings: Arc<Recordings>,
    pub metrics: Arc<Metrics>,
    /// Bearer token the recording routes require, if any.
    pub token: Option<Arc<str>>,
}

/// An HTTP error with its one-sentence explanation.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    #[must_use]
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            return (self.status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// All routes, for the API listener.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/recordings", post(start).get(list))
        .route("/recordings/{id}", get(status))
        .route("/recordings/{id}/run", get(run))
        .route("/recordings/{id}/cancel", post(cancel))
        .merge(read_only_routes())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// `/metrics` and `/healthz` only, for the metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    read_only_routes()
        .fallback(no_read_only_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

fn read_only_routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AppState>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.encode(),
    )
        .into_response()
}

/// Largest `POST /recordings` body: a request names at most `MAX_TARGETS` targets.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Checks `Authorization: Bearer <token>` (exactly) when the agent has a token.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if tokens_match(given.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the bearer token is wrong; use the one in the agent's --token-file",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this agent needs a token: send the header 'Authorization: Bearer <token from its --token-file>'",
        )),
    }
}

/// Whether `given` is the token, in a time that depends only on the token's length: every
/// byte of the token is compared whatever the given length or the first difference.
fn tokens_match(given: &[u8], token: &[u8]) -> bool {
    let mut same = given.len().ct_eq(&token.len());
    for (index, expected) in token.iter().enumerate() {
        same &= given.get(index).unwrap_or(&0).ct_eq(expected);
    }
    same.into()
}

async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<Status>), ApiError> {
    // The token first: an unauthenticated client gets no body read, not even a bounded one.
    authorize(&state, &headers)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {} KiB or was cut off; name at most {} targets",
                    MAX_BODY_BYTES / 1024,
                    super::recordings::MAX_TARGETS
                ),
            )
        })?;
    // Parsed whatever the Content-Type: `curl -d` sends form encoding by default.
    let request: RecordingRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"pods\": [\"default/fortio-7d9\"], \"duration\": \"30s\"}}: {e}"
        ))
    })?;
    let status = state.recordings.start(request)?;
    let location = format!("/recordings/{}", status.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(status),
    ))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Status>>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(state.recordings.list()))
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    authorize(&state, &headers)?;
    state.recordings.status(&id).map(Json)
}

async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let json = state.recordings.run_json(&id)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        json.as_str().to_owned(),
    )
        .into_response())
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Status>), ApiError> {
    authorize(&state, &headers)?;
    state
        .recordings
        .cancel(&id)
        .map(|status| (StatusCode::ACCEPTED, Json(status)))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; this agent serves /recordings, /metrics and /healthz",
            uri.path()
        ),
    )
}

async fn no_read_only_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; this listener serves only /metrics and /healthz (the API is on --listen)",
            uri.path()
        ),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; see the API list in the README (On Kubernetes)",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_exactly() {
        assert!(tokens_match(b"s3cret", b"s3cret"));
        assert!(!tokens_match(b"s3cret", b"s3creT"));
        assert!(!tokens_match(b"s3cre", b"s3cret"));
        assert!(!tokens_match(b"s3cret ", b"s3cret"));
        assert!(!tokens_match(b"s3cret\0", b"s3cret"));
        assert!(!tokens_match(b"", b"s3cret"));
    }
}
