//! Errors as Stargate answers them: a status and `{"description", "code"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ringgate::protocol::message::ErrorDetails;
use ringgate::request::RequestError;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the user.
    pub description: String,
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this status.
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        ApiError {
            status,
            description: description.into(),
        }
    }

    /// 400: the request is wrong.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    /// 401: no, or a wrong, token or password; or a right the user lacks.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, description)
    }

    /// 404: no such keyspace, table, row, column, type or index.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"description": self.description, "code": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        use StatusCode as S;
        match &e {
            RequestError::Server { error, .. } => {
                let message = error.message.clone();
                let status = match &error.details {
                    ErrorDetails::SyntaxError => S::BAD_REQUEST,
                    ErrorDetails::Invalid | ErrorDetails::ConfigError => {
                        if is_missing_schema(&message) {
                            S::NOT_FOUND
                        } else if message.contains("already exists") {
                            S::CONFLICT
                        } else {
                            S::BAD_REQUEST
                        }
                    }
                    ErrorDetails::AlreadyExists { .. } => S::CONFLICT,
                    ErrorDetails::Unauthorized => {
                        return ApiError::unauthorized(format!(
                            "Role unauthorized for operation: {message}"
                        ));
                    }
                    ErrorDetails::AuthenticationError => S::UNAUTHORIZED,
                    ErrorDetails::Unavailable { .. }
                    | ErrorDetails::ReadFailure { .. }
                    | ErrorDetails::WriteFailure { .. }
                    | ErrorDetails::CasWriteUnknown { .. } => S::BAD_GATEWAY,
                    ErrorDetails::ReadTimeout { .. } | ErrorDetails::WriteTimeout { .. } => {
                        S::GATEWAY_TIMEOUT
                    }
                    ErrorDetails::Overloaded | ErrorDetails::IsBootstrapping => {
                        S::SERVICE_UNAVAILABLE
                    }
                    ErrorDetails::FunctionFailure { .. } => S::BAD_REQUEST,
                    _ => S::INTERNAL_SERVER_ERROR,
                };
                ApiError::new(status, message)
            }
            RequestError::Timeout { .. } => ApiError::new(S::GATEWAY_TIMEOUT, e.to_string()),
            RequestError::NoHostAvailable(_) | RequestError::Cluster(_) => {
                ApiError::new(S::BAD_GATEWAY, e.to_string())
            }
            RequestError::Overloaded(_) => ApiError::new(S::SERVICE_UNAVAILABLE, e.to_string()),
            RequestError::Authentication { error, .. } => {
                ApiError::unauthorized(error.message.clone())
            }
            RequestError::Invalid(m) => ApiError::bad_request(m.clone()),
            RequestError::Encode(_) => ApiError::bad_request(e.to_string()),
            _ => ApiError::new(S::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// Whether Cassandra's message says a keyspace or table does not exist.
fn is_missing_schema(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("unconfigured table")
        || (m.contains("keyspace") && m.contains("does not exist"))
        || m.starts_with("table") && m.contains("does not exist")
        || m.contains("cannot drop non existing")
        || m.contains("doesn't exist")
}
