//! The node's admin HTTP listener (hyper, HTTP/1.1): `GET /metrics` (OpenMetrics text, for
//! Prometheus), `GET /health` (200 while the process serves) and `GET /ready` (200 once the
//! cluster view is established and every range of the local datacenter has a reachable
//! replica; 503 otherwise, and while the node drains).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ringgate::admin::{MetricsExporter, OPENMETRICS_CONTENT_TYPE, readiness};
use ringgate::request::Coordinator;
use ringgate::server::{Drain, ServerMetrics};
use tokio::net::TcpListener;

/// What the admin endpoints read.
#[derive(Debug)]
pub struct Admin {
    coordinator: Coordinator,
    exporter: MetricsExporter,
    drain: Drain,
}

impl Admin {
    /// The endpoints of a node over `coordinator`, serving clients counted in `server`, that
    /// drains on `drain`.
    pub fn new(coordinator: Coordinator, server: ServerMetrics, drain: Drain) -> Self {
        Admin {
            exporter: MetricsExporter::new(coordinator.clone(), Some(server)),
            coordinator,
            drain,
        }
    }

    /// The answer to one request.
    pub fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".to_owned());
        }
        match path {
            "/metrics" => {
                let mut response = text(StatusCode::OK, self.exporter.render());
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
                );
                response
            }
            "/health" => text(StatusCode::OK, "alive\n".to_owned()),
            "/ready" => {
                if self.drain.is_draining() {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: draining (shutting down)\n".to_owned(),
                    );
                }
                let r = readiness(&self.coordinator);
                let status = if r.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let word = if r.ready { "ready" } else { "not ready" };
                text(status, format!("{word}: {}\n", r.reason))
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: /metrics, /health, /ready\n".to_owned(),
            ),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves `admin` on `listener` until the task is dropped, one task per connection.
pub async fn serve_admin(listener: TcpListener, admin: Arc<Admin>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "admin listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let admin = Arc::clone(&admin);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = admin.respond(request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "admin connection ended");
            }
        });
    }
}
