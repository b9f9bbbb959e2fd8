//! The errors a caller sees. Each has an HTTP status (function URLs), an error type (direct
//! invocations) and a message that names what to fix; internal details go to the log only.

use designer_core::DesignError;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON, unknown fields or labels, out-of-range numbers.
    Invalid,
    /// The response could exceed Lambda's 6 MB payload limit.
    TooLarge,
    UnknownAction,
    /// An HTTP method the path does not answer (the reply's `Allow` says which do).
    MethodNotAllowed,
    /// The action exists but not over this transport (training over a public URL).
    Forbidden,
    /// Another invocation is training the same checkpoint.
    Busy,
    /// The function's environment lacks what the action needs.
    NotConfigured,
    /// The training data gave nothing usable.
    BadTrainingData,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::UnknownAction => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Busy => 409,
            ErrorKind::TooLarge => 413,
            ErrorKind::BadTrainingData => 422,
            ErrorKind::NotConfigured | ErrorKind::Internal => 500,
        }
    }

    /// The `error` field of HTTP error bodies (the same names as the core's errors).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::UnknownAction => "unknown_action",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Busy => "busy",
            ErrorKind::NotConfigured => "not_configured",
            ErrorKind::BadTrainingData => "bad_training_data",
            ErrorKind::Internal => "internal",
        }
    }

    /// The `errorType` of a direct invocation's function error.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "InvalidRequest",
            ErrorKind::TooLarge => "ResponseTooLarge",
            ErrorKind::UnknownAction => "UnknownAction",
            ErrorKind::MethodNotAllowed => "MethodNotAllowed",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::Busy => "CheckpointBusy",
            ErrorKind::NotConfigured => "NotConfigured",
            ErrorKind::BadTrainingData => "BadTrainingData",
            ErrorKind::Internal => "InternalError",
        }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    /// The request field at fault, for invalid requests.
    pub field: Option<String>,
    pub message: String,
    /// The methods the path answers, for a [`ErrorKind::MethodNotAllowed`] reply's `Allow`.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            field: None,
            message: message.into(),
            allow: None,
        }
    }

    pub fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                ErrorKind::MethodNotAllowed,
                format!("{method} {path} is not answered; use {allow}"),
            )
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(ErrorKind::Invalid, message)
        }
    }

    /// An error of ours: `detail` is logged with the request id, the caller sees only that id.
    pub fn internal(request_id: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(request_id, %detail, "internal error");
        Self::new(
            ErrorKind::Internal,
            format!("internal error; quote request id {request_id} when reporting it"),
        )
    }

    pub fn from_design(error: DesignError, request_id: &str) -> Self {
        match error {
            DesignError::Invalid { field, message } => Self::invalid(&field, message),
            DesignError::TooLarge { message } => Self::new(ErrorKind::TooLarge, message),
            DesignError::Model { message } => Self::internal(request_id, message),
        }
    }

    /// The HTTP body: `{"error": code, "field"?: ..., "message": ...}`, the core's error shape.
    pub fn body(&self) -> Value {
        let mut body = json!({"error": self.kind.code(), "message": self.message});
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        body
    }

    /// A direct invocation's function error; the message says which field, as over HTTP.
    pub fn diagnostic(&self) -> Diagnostic {
        let message = match &self.field {
            Some(field) => format!("invalid {field}: {}", self.message),
            None => self.message.clone(),
        };
        Diagnostic {
            error_type: self.kind.error_type().to_string(),
            error_message: message,
        }
    }
}
