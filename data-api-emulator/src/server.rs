//! The HTTP side: accepts connections on a bound listener, serves many keep-alive HTTP/1.1
//! connections concurrently, routes the five Data API paths and, when enabled, the control
//! routes under `/_emulator/`, and stops when the shutdown future completes.
//!
//! A "dropped connection" fault closes the TCP connection without answering: the connection's
//! task is told through a `Notify` and drops the hyper connection, which closes the socket.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::error::ApiError;
use crate::faults::{Fault, Operation, ScheduledFault};
use crate::ops;
use crate::service::{BadClusterUrl, Call, Service, MAX_REQUEST_BYTES};

/// How long in-flight connections get to finish after shutdown is requested.
const GRACE: Duration = Duration::from_secs(5);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] BadClusterUrl),
    #[error("accepting connections failed")]
    Accept(#[source] std::io::Error),
}

/// Serves the Data API on `listener` until `shutdown` completes, then rolls back open
/// transactions (by closing their connections) and returns.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let svc = Arc::new(Service::new(config)?);
    let (stop_tx, stop_rx) = watch::channel(false);

    let sweeper = {
        let svc = Arc::clone(&svc);
        let mut stop = stop_rx.clone();
        let t = svc.config.timeouts;
        let every = (t.transaction_idle.min(t.transaction_max) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => svc.transactions.sweep(svc.config.timeouts, &svc.pools).await,
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(%e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => break Err(ServeError::Accept(e)),
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(stream, Arc::clone(&svc), stop_rx.clone()));
            }
            () = &mut shutdown => break Ok(()),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(GRACE, async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
    let _ = sweeper.await;
    result
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        || e.raw_os_error().is_some_and(|c| c == 24 || c == 23) // EMFILE, ENFILE
}

async fn serve_connection(stream: tokio::net::TcpStream, svc: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let dropper = Arc::new(Notify::new());
    let handler_dropper = Arc::clone(&dropper);
    let service = service_fn(move |req| {
        let svc = Arc::clone(&svc);
        let dropper = Arc::clone(&handler_dropper);
        async move { Ok::<_, Infallible>(handle(svc, req, dropper).await) }
    });
    let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            () = dropper.notified() => break, // drops the connection: the socket closes unanswered
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

type Reply = Response<Full<Bytes>>;

async fn handle(svc: Arc<Service>, req: Request<Incoming>, dropper: Arc<Notify>) -> Reply {
    let path = req.uri().path().to_string();
    if let Some(route) = path.strip_prefix("/_emulator/") {
        if svc.config.control {
            return control(&svc, req.method().clone(), route, req).await;
        }
        return error_reply(&ApiError::UnknownOperation(format!("No route for {path}")));
    }
    let Some(op) = Operation::from_path(&path) else {
        return error_reply(&ApiError::UnknownOperation(format!("No operation at {path}")));
    };
    if req.method() != Method::POST {
        return error_reply(&ApiError::UnknownOperation(format!(
            "{} {path} is not an operation",
            req.method()
        )));
    }
    svc.counters.count(op);
    if !svc.config.latency.is_zero() {
        tokio::time::sleep(svc.config.latency).await;
    }
    let body = match read_body(req.into_body()).await {
        Ok(Some(b)) => b,
        Ok(None) => return too_large(),
        Err(e) => return error_reply(&ApiError::Serialization(format!("cannot read the request body: {e}"))),
    };
    let fault = svc.faults.take(op, &body);
    let mut call = Call { timeout: svc.config.timeouts.call, report_connection_id: true };
    match fault {
        Some(Fault::Resuming) => {
            return error_reply(&ApiError::DatabaseResuming(
                "The Aurora DB instance emulator-instance-1 is resuming after being auto-paused. \
                 Please wait a few seconds and try again."
                    .into(),
            ))
        }
        Some(Fault::Unavailable) => {
            return error_reply(&ApiError::ServiceUnavailable("Service unavailable (injected)".into()))
        }
        Some(Fault::SecretsError) => {
            return error_reply(&ApiError::SecretsError(
                "Error fetching secret (injected): Rate exceeded (Service: SecretsManager, Status \
                 Code: 400, Error Code: ThrottlingException)"
                    .into(),
            ))
        }
        Some(Fault::TimeoutWithoutConnectionId(d)) => {
            call = Call { timeout: d.min(call.timeout), report_connection_id: false };
        }
        Some(Fault::DropBefore) => return drop_connection(&dropper).await,
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DropAfter | Fault::UnavailableAfter) | None => {}
    }
    let reply = route(&svc, op, &body, call).await;
    match fault {
        Some(Fault::DropAfter) => drop_connection(&dropper).await,
        Some(Fault::UnavailableAfter) => error_reply(&ApiError::DatabaseUnavailable(
            "Communications link failure (injected after the call ran)".into(),
        )),
        _ => reply,
    }
}

async fn drop_connection(dropper: &Notify) -> Reply {
    dropper.notify_one();
    std::future::pending::<()>().await;
    error_reply(&ApiError::Internal("unreachable".into()))
}

/// The request body, or `None` when it is over the request limit. An oversized body is still read
/// to its end (and dropped) so the client can finish sending and read the answer; closing the
/// connection on it would leave clients with a broken pipe instead of the 413.
async fn read_body(mut body: Incoming) -> Result<Option<Bytes>, hyper::Error> {
    let mut kept = bytes::BytesMut::new();
    let mut over = false;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            over |= kept.len() + data.len() > MAX_REQUEST_BYTES;
            if !over {
                kept.extend_from_slice(&data);
            }
        }
    }
    Ok((!over).then(|| kept.freeze()))
}

/// The answer to a body over the request limit, before it is decoded.
fn too_large() -> Reply {
    error_reply(&ApiError::RequestTooLarge(format!(
        "Request body exceeds the maximum of {MAX_REQUEST_BYTES} bytes"
    )))
}

async fn route(svc: &Arc<Service>, op: Operation, body: &Bytes, call: Call) -> Reply {
    match op {
        Operation::ExecuteStatement => match decode(body) {
            Ok(r) => reply(ops::execute::handle(svc, r, call).await),
            Err(e) => error_reply(&e),
        },
        Operation::BatchExecuteStatement => match decode(body) {
            Ok(r) => reply(ops::batch::handle(svc, r, call).await),
            Err(e) => error_reply(&e),
        },
        Operation::BeginTransaction => match decode(body) {
            Ok(r) => reply(ops::begin::handle(svc, r).await),
            Err(e) => error_reply(&e),
        },
        Operation::CommitTransaction => match decode(body) {
            Ok(r) => reply(ops::commit::handle(svc, r).await),
            Err(e) => error_reply(&e),
        },
        Operation::RollbackTransaction => match decode(body) {
            Ok(r) => reply(ops::rollback::handle(svc, r).await),
            Err(e) => error_reply(&e),
        },
    }
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| ApiError::Serialization(format!("Invalid request body: {e}")))
}

fn reply<T: Serialize>(result: Result<T, ApiError>) -> Reply {
    match result {
        Ok(value) => json_reply(StatusCode::OK, &value, None),
        Err(e) => error_reply(&e),
    }
}

fn error_reply(e: &ApiError) -> Reply {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_reply(status, &e.body(), Some(e.code()))
}

fn json_reply<T: Serialize>(status: StatusCode, value: &T, error_type: Option<&str>) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id());
    if let Some(t) = error_type {
        builder = builder.header("x-amzn-errortype", t);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The control routes (see README): counters and faults.
async fn control(svc: &Service, method: Method, route: &str, req: Request<Incoming>) -> Reply {
    match (method, route) {
        (Method::GET, "counters") => json_reply(StatusCode::OK, &svc.counters.to_json(), None),
        (Method::DELETE, "counters") => {
            svc.counters.reset();
            json_reply(StatusCode::OK, &svc.counters.to_json(), None)
        }
        (Method::GET, "faults") => json_reply(StatusCode::OK, &svc.faults.pending(), None),
        (Method::DELETE, "faults") => {
            svc.faults.clear();
            json_reply(StatusCode::OK, &svc.faults.pending(), None)
        }
        (Method::POST, "faults") => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return error_reply(&ApiError::Serialization(e.to_string())),
            };
            match serde_json::from_slice::<ScheduledFault>(&body) {
                Ok(rule) => {
                    svc.faults.add(rule);
                    json_reply(StatusCode::OK, &svc.faults.pending(), None)
                }
                Err(e) => error_reply(&ApiError::Serialization(format!("Invalid fault rule: {e}"))),
            }
        }
        (m, r) => error_reply(&ApiError::UnknownOperation(format!("No control route {m} /_emulator/{r}"))),
    }
}
