//! The control protocol's wire format: what travels over `xvswitchd`'s Unix
//! socket between the daemon and its clients (`xvsctl`, scripts).
//!
//! This module owns the framing rules ([`MAX_REQUEST_BYTES`],
//! [`DEFAULT_SOCKET`], one JSON object per line), the request and response
//! shapes ([`Request`], [`Response`], [`ErrorBody`]), the stable error codes
//! ([`ErrorCode`]) and the first step of serving a request,
//! [`parse_request`]. Which ops there are and what they take is
//! [`crate::ops`]'s business, serving them [`crate::service`]'s; the full
//! description is `docs/control-protocol.md`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Version of this protocol; `version` answers it. Bumped on any change a
/// client could notice.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the daemon reads, in bytes, without its newline.
/// A longer line is refused with [`ErrorCode::RequestTooLarge`].
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Where `xvswitchd` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/xvswitch/xvswitchd.sock";

/// One request: an id the response echoes, an op name and the op's
/// arguments (an object; absent means `{}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, echoed in the response: any JSON value.
    pub id: Value,
    /// The op's name, like `port.add`.
    pub op: String,
    /// The op's arguments.
    #[serde(default)]
    pub args: Value,
}

impl Request {
    /// Builds a request.
    pub fn new(id: impl Into<Value>, op: impl Into<String>, args: Value) -> Self {
        Request {
            id: id.into(),
            op: op.into(),
            args,
        }
    }

    /// The request of a typed op: its name and its args
    /// ([`crate::ops::Op::args`]).
    pub fn for_op(id: impl Into<Value>, op: &crate::ops::Op) -> Self {
        Request::new(id, op.name(), op.args())
    }

    /// The request as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        json_line(self)
    }
}

/// The answer to one request: its id and either a result or an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// The request's id; `null` when the request's id could not be read.
    pub id: Value,
    /// What the op returned, on success. `"result": null` (a `null`
    /// result, like `tep.show` without a local TEP) reads back as
    /// `Some(Value::Null)`, not `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<Value>,
    /// Why the op failed, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    /// A success.
    pub fn ok(id: Value, result: Value) -> Self {
        Response {
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn err(id: Value, error: ErrorBody) -> Self {
        Response {
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The answer to a request line longer than [`MAX_REQUEST_BYTES`]:
    /// [`ErrorCode::RequestTooLarge`], id `null` (it was not read).
    pub fn too_large() -> Self {
        Response::err(
            Value::Null,
            ErrorBody::new(
                ErrorCode::RequestTooLarge,
                format!("request line longer than {MAX_REQUEST_BYTES} bytes"),
            ),
        )
    }

    /// The response as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        json_line(self)
    }
}

/// Deserializes a field that is present as `Some`, even when it is `null`
/// (absent fields get `None` from `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Serializes a request or response as one line. Both hold only JSON values
/// and strings, which serde_json always writes; the fallback keeps this
/// panic-free all the same.
fn json_line<T: Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        Err(e) => {
            let error = ErrorBody::new(ErrorCode::Internal, format!("cannot serialize: {e}"));
            let fallback = serde_json::json!({ "id": null, "error": error });
            format!("{fallback}\n")
        }
    }
}

/// An error: a stable code for programs and a message for people that names
/// the object and the reason.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ErrorBody {
    /// What kind of error.
    pub code: ErrorCode,
    /// What went wrong, for an operator.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
        }
    }
}

/// The kinds of error. The JSON and [`fmt::Display`] form is the snake_case
/// name (`not_found`); these names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not JSON.
    ParseError,
    /// The line is JSON but not a request: not an object, no `id`, no
    /// string `op`, `args` not an object, or an unknown field.
    InvalidRequest,
    /// No op has this name.
    UnknownOp,
    /// The args are missing a field, have an unknown one or a value of the
    /// wrong type; or the configuration the op would make breaks a rule of
    /// the model.
    InvalidArgument,
    /// The op names an object that does not exist.
    NotFound,
    /// The op would create an object that already exists.
    AlreadyExists,
    /// The op would delete an object other objects still use.
    InUse,
    /// The request line is longer than [`MAX_REQUEST_BYTES`].
    RequestTooLarge,
    /// The configuration is valid but the datapath could not take it; the
    /// previous configuration is still in force.
    ApplyFailed,
    /// The op is known, but this daemon does not implement it (yet).
    Unsupported,
    /// Anything else: a bug, or a failure of the daemon itself.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownOp,
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::InUse,
        ErrorCode::RequestTooLarge,
        ErrorCode::ApplyFailed,
        ErrorCode::Unsupported,
        ErrorCode::Internal,
    ];

    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "parse_error",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::InUse => "in_use",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::ApplyFailed => "apply_failed",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields a request may have.
const REQUEST_FIELDS: [&str; 3] = ["id", "op", "args"];

/// Parses one request line (without the newline).
///
/// Malformed JSON (or bytes that are not UTF-8) gives
/// [`ErrorCode::ParseError`] with id `null`. JSON that is not an object,
/// has no `id`, no `op` or a non-string `op`, an `args` that is neither an
/// object nor `null`, or a field other than those three gives
/// [`ErrorCode::InvalidRequest`], with the request's id when it had one.
/// Absent or `null` `args` become `{}`. The error is returned as the
/// [`Response`] to send back.
pub fn parse_request(line: &[u8]) -> Result<Request, Response> {
    let invalid = |id: Value, message: String| {
        Response::err(id, ErrorBody::new(ErrorCode::InvalidRequest, message))
    };
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        Response::err(
            Value::Null,
            ErrorBody::new(ErrorCode::ParseError, format!("request is not JSON: {e}")),
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err(invalid(
            Value::Null,
            format!("request must be a JSON object, got {}", json_kind(&value)),
        ));
    };
    let id = object.remove("id");
    let reply_id = id.clone().unwrap_or(Value::Null);
    if let Some(unknown) = object
        .keys()
        .find(|k| !REQUEST_FIELDS.contains(&k.as_str()))
    {
        return Err(invalid(
            reply_id,
            format!("unknown field `{unknown}` in request (expected `id`, `op` and `args`)"),
        ));
    }
    let Some(id) = id else {
        return Err(invalid(reply_id, "request has no `id`".into()));
    };
    let op = match object.remove("op") {
        Some(Value::String(op)) => op,
        Some(other) => {
            return Err(invalid(
                id,
                format!("`op` must be a string, got {}", json_kind(&other)),
            ))
        }
        None => return Err(invalid(id, "request has no `op`".into())),
    };
    let args = match object.remove("args") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(args @ Value::Object(_)) => args,
        Some(other) => {
            return Err(invalid(
                id,
                format!("`args` must be an object, got {}", json_kind(&other)),
            ))
        }
    };
    Ok(Request { id, op, args })
}

/// What kind of JSON value this is, for error messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
