//! The agent's HTTP routes. Every failure is a 4xx/5xx with a JSON body
//! `{"error": "one sentence: what is wrong, what to do"}`. The OpenAPI document
//! ([`ApiDoc`], served at `/openapi.json`, checked in as `deploy/openapi.json`) lists them.
//!
//! API listener (`--listen`, loopback by default; bearer token when `--token-file` is set):
//! - `POST /recordings` — body [`RecordingRequest`]; 202 with the recording's status and a
//!   `Location` header; 400 bad request, 404 target not on this node, 429 too many at once.
//! - `GET /recordings` — every recording kept (also those of earlier runs of the agent).
//! - `GET /recordings/{id}` — one recording's status.
//! - `GET /recordings/{id}/run` — its run file (JSON) once done; 409 while running or failed.
//! - `GET /recordings/{id}/report?format=` — its report (text, markdown, json, html).
//! - `GET /recordings/{id}/events` — its per-interval figures as Server-Sent Events.
//! - `POST /recordings/{id}/cancel` — stop it now; its run covers the time until then.
//! - `POST /watches` — record a pod without end, for `/metrics` only.
//! - `POST /compare` — body [`CompareRequest`]: done recordings compared, in any format.
//! - `GET /openapi.json` — this API's OpenAPI document.
//! - `GET /metrics`, `GET /healthz` — also on the read-only `--metrics-listen` listener.
use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use subtle::ConstantTimeEq as _;
use utoipa::OpenApi;

use super::{
    api::{
        CompareRequest, ErrorBody, IntervalEvent, PidSpec, ProbeChoice, RecordingRequest,
        ReportFormat, ReportQuery, State as RecordingState, Status, StreamEvent, TargetStatus,
        TrafficFigures, WatchRequest,
    },
    metrics::Metrics,
    recordings::Recordings,
};
use crate::{
    compare::{CompareError, Input, Options},
    run::{Losses, ProbeOverhead},
};

/// The OpenAPI document of the API, generated from the handlers and types below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tracer agent",
        description = "Record pods, containers, cgroups and processes on this node; fetch, report and compare their runs; follow them live. Send `Authorization: Bearer <token>` when the agent has a --token-file.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        start,
        list,
        status,
        run,
        report,
        events,
        cancel,
        watch,
        compare_runs,
        openapi,
        metrics,
        healthz
    ),
    components(schemas(
        RecordingRequest,
        PidSpec,
        WatchRequest,
        CompareRequest,
        Status,
        TargetStatus,
        RecordingState,
        ProbeChoice,
        ReportFormat,
        ErrorBody,
        IntervalEvent,
        TrafficFigures,
        Losses,
        ProbeOverhead
    ))
)]
pub struct ApiDoc;

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
        .route("/recordings/{id}/report", get(report))
        .route("/recordings/{id}/events", get(events))
        .route("/recordings/{id}/cancel", post(cancel))
        .route("/watches", post(watch))
        .route("/compare", post(compare_runs))
        .route("/openapi.json", get(openapi))
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

/// Whether the agent is serving.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The agent serves", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Prometheus metrics, OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "The exposition", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.encode(),
    )
        .into_response()
}

/// Largest request body: a recording names at most `MAX_TARGETS` targets, and may carry a
/// load generator's JSON result.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Most recordings one comparison reads.
const MAX_COMPARED: usize = 16;

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

/// Reads a JSON body of at most [`MAX_BODY_BYTES`], whatever its Content-Type (`curl -d`
/// sends form encoding by default).
async fn json_body<T: serde::de::DeserializeOwned>(
    body: Body,
    example: &str,
) -> Result<T, ApiError> {
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
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body must be JSON like {example}: {e}")))
}

type Accepted = (StatusCode, [(header::HeaderName, String); 1], Json<Status>);

/// Start a recording.
#[utoipa::path(post, path = "/recordings", tag = "recordings", request_body = RecordingRequest,
    responses(
        (status = 202, description = "Accepted; follow it at Location", body = Status),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "A target is not on this node", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many recordings at once", body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Accepted, ApiError> {
    // The token first: an unauthenticated client gets no body read, not even a bounded one.
    authorize(&state, &headers)?;
    let request: RecordingRequest = json_body(
        body,
        r#"{"pods": ["default/fortio-7d9"], "duration": "30s"}"#,
    )
    .await?;
    let status = state.recordings.start(request)?;
    let location = format!("/recordings/{}", status.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(status),
    ))
}

/// Every recording kept, oldest first.
#[utoipa::path(get, path = "/recordings", tag = "recordings",
    responses((status = 200, description = "The recordings", body = Vec<Status>),
        (status = 401, description = "Token missing or wrong", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Status>>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(state.recordings.list()))
}

/// One recording's status.
#[utoipa::path(get, path = "/recordings/{id}", tag = "recordings",
    params(("id" = String, Path, description = "The recording's id (a ULID)")),
    responses((status = 200, description = "Its status", body = Status),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    authorize(&state, &headers)?;
    state.recordings.status(&id).map(Json)
}

/// A done recording's run file.
#[utoipa::path(get, path = "/recordings/{id}/run", tag = "recordings",
    params(("id" = String, Path, description = "The recording's id (a ULID)")),
    responses((status = 200, description = "The run file (`tracer report` and `tracer compare` read it)", body = Object),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 409, description = "Still running, failed, or a watch", body = ErrorBody),
        (status = 410, description = "Its run file is gone or damaged", body = ErrorBody)))]
async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let json = state.recordings.run_json(&id)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// A done recording's report, as `tracer report` prints it.
#[utoipa::path(get, path = "/recordings/{id}/report", tag = "reports",
    params(("id" = String, Path, description = "The recording's id (a ULID)"), ReportQuery),
    responses((status = 200, description = "The report in the format asked for", 
            content((String = "text/plain"), (String = "text/markdown"), (Object = "application/json"), (String = "text/html"))),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 409, description = "Still running, failed, or a watch", body = ErrorBody),
        (status = 410, description = "Its run file is gone or damaged", body = ErrorBody)))]
async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "the query must be like ?format=markdown (text, markdown, json or html) and optionally &requests=N: {}",
            e.body_text()
        ))
    })?;
    if query.requests == Some(0) {
        return Err(ApiError::bad_request("\"requests\" must be 1 or more"));
    }
    let run = state.recordings.run(&id)?;
    let format = query.format.unwrap_or_default();
    let comparison = crate::compare::analyze::summarize(
        &Input { file: id, run },
        &Options {
            group_by_label: false,
            requests: query.requests,
            focus: None,
        },
    );
    let text = crate::report::render(&comparison, format.format(), false);
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}

/// Done recordings side by side, the first the baseline, as `tracer compare` shows them.
#[utoipa::path(post, path = "/compare", tag = "reports", request_body = CompareRequest,
    responses((status = 200, description = "The comparison in the format asked for", 
            content((String = "text/plain"), (String = "text/markdown"), (Object = "application/json"), (String = "text/html"))),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 409, description = "A recording is still running, failed, or a watch", body = ErrorBody),
        (status = 410, description = "A run file is gone or damaged", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)))]
async fn compare_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let request: CompareRequest = json_body(
        body,
        r#"{"recordings": ["01JE…", "01JF…"], "format": "markdown"}"#,
    )
    .await?;
    if request.recordings.len() < 2 || request.recordings.len() > MAX_COMPARED {
        return Err(ApiError::bad_request(format!(
            "\"recordings\" names {}; compare 2 to {MAX_COMPARED} recordings, the first the baseline",
            request.recordings.len()
        )));
    }
    if request.requests == Some(0) {
        return Err(ApiError::bad_request("\"requests\" must be 1 or more"));
    }
    let mut inputs = Vec::with_capacity(request.recordings.len());
    for id in &request.recordings {
        inputs.push(Input {
            file: id.clone(),
            run: state.recordings.run(id)?,
        });
    }
    let options = Options {
        group_by_label: request.group,
        requests: request.requests,
        focus: request.focus.clone(),
    };
    // Every reason runs cannot be compared is in the request.
    let comparison =
        crate::compare::compare(&inputs, &options).map_err(|error: CompareError| {
            ApiError::bad_request(
                super::recordings::in_api_terms(&error.to_string()).replace("--group", "\"group\""),
            )
        })?;
    let format = request.format.unwrap_or_default();
    let text = crate::report::render(&comparison, format.format(), false);
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}

/// A recording's per-interval figures as Server-Sent Events (`event: interval`, data an
/// [`IntervalEvent`]), then `event: end` with its status. A recording that has ended sends
/// only the `end` event. The stream closes with the connection's time limit (60 s);
/// `EventSource` clients reconnect by themselves.
#[utoipa::path(get, path = "/recordings/{id}/events", tag = "recordings",
    params(("id" = String, Path, description = "The recording's id (a ULID)")),
    responses((status = 200, description = "`interval` events, then one `end` event", body = StreamEvent, content_type = "text/event-stream"),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use futures_util::StreamExt as _;
    authorize(&state, &headers)?;
    let receiver = state.recordings.subscribe(&id)?;
    let recordings = Arc::clone(&state.recordings);
    let intervals = futures_util::stream::unfold(receiver, |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(json) => {
                    let event = Event::default().event("interval").data(&*json);
                    return Some((event, Some(receiver)));
                }
                // A slow reader skips ahead to the newest interval.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let end = futures_util::stream::once(async move {
        let status = recordings
            .status(&id)
            .ok()
            .and_then(|s| serde_json::to_string(&s).ok())
            .unwrap_or_else(|| "{}".to_owned());
        Event::default().event("end").data(status)
    });
    let stream = intervals.chain(end).map(Ok::<_, std::convert::Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Record a pod without end, for `/metrics` only (no run file); cancel it like a recording.
#[utoipa::path(post, path = "/watches", tag = "recordings", request_body = WatchRequest,
    responses((status = 202, description = "Watching; its status is at Location", body = Status),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "The pod is not on this node", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many recordings at once", body = ErrorBody)))]
async fn watch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Accepted, ApiError> {
    authorize(&state, &headers)?;
    let request: WatchRequest = json_body(body, r#"{"pod": "default/fortio-7d9"}"#).await?;
    let status = state.recordings.watch(request, false)?;
    let location = format!("/recordings/{}", status.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(status),
    ))
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// The OpenAPI document as served and as checked in (`deploy/openapi.json`).
#[must_use]
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Stop a recording (or a watch) now; its run covers the time until then.
#[utoipa::path(post, path = "/recordings/{id}/cancel", tag = "recordings",
    params(("id" = String, Path, description = "The recording's id (a ULID)")),
    responses((status = 202, description = "Stopping", body = Status),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 404, description = "No such recording", body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody)))]
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
            "no endpoint {method} {}; this agent serves /recordings, /watches, /compare, /openapi.json, /metrics and /healthz",
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
            "{method} is not allowed on {}; GET /openapi.json lists what is",
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
