//! Serving a listener so that no client can hold the agent: every connection must send its
//! request headers within `header_timeout` and be done within `request_timeout`, carries one
//! request (no keep-alive, so no idle connections), and at most `max_connections` are open.
//! When the cap is reached, a new connection closes the oldest one still waiting for its
//! headers: half-open connections (slowloris) cannot lock out `/healthz` or the API, and the
//! file-descriptor limit is never reached.
use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{Router, body::Body, extract::Request, response::Response};
use hyper::{body::Incoming, server::conn::http1, service::Service as _};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, oneshot},
};

/// Bounds on every connection of one listener.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time from accepting a connection to the end of its request headers.
    pub header_timeout: Duration,
    /// Time from accepting a connection to its closing: body, handler and response.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Connections whose request headers have not arrived yet, oldest first, with the way to
/// close each.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    by_age: BTreeMap<u64, oneshot::Sender<()>>,
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    // Every update is a single insert or remove: a panic elsewhere leaves it consistent.
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `router` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors or a connection reset before accept: the next accept
            // may work; do not spin on a persistent error.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let slot = if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            slot
        } else {
            let oldest = lock(&waiting).by_age.pop_first();
            let Some((_, close)) = oldest else {
                // Every connection is busy with a real request: refuse this one.
                drop(stream);
                continue;
            };
            let _ = close.send(());
            // The closed connection gives its slot back as soon as its task ends.
            match Arc::clone(&slots).acquire_owned().await {
                Ok(slot) => slot,
                Err(_) => return,
            }
        };
        let (close, closed) = oneshot::channel();
        let id = {
            let mut waiting = lock(&waiting);
            waiting.next_id += 1;
            let id = waiting.next_id;
            waiting.by_age.insert(id, close);
            id
        };
        let waiting = Arc::clone(&waiting);
        let router = router.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let headers_arrived = Arc::clone(&waiting);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                // The request is here: this connection is no longer one to close for others.
                lock(&headers_arrived).by_age.remove(&id);
                let call = TowerToHyperService::new(router.clone()).call(request);
                async move {
                    let response: Result<Response<Body>, Infallible> = call.await;
                    response
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(limits.request_timeout, connection) => {}
                Ok(()) = closed => {}
            }
            lock(&waiting).by_age.remove(&id);
        });
    }
}
