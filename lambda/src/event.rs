//! What an invocation asks for, whichever way it came: a direct invoke's JSON, or a function URL /
//! API Gateway HTTP (payload 2.0) event; and the reply in the shape that way expects.

use crate::error::{ApiError, ErrorKind};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use lambda_runtime::{Diagnostic, LambdaInvocation};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Generate,
    Train,
    Info,
}

impl Action {
    const ALL: [(&str, Action); 3] = [
        ("generate", Action::Generate),
        ("train", Action::Train),
        ("info", Action::Info),
    ];

    fn parse(name: &str) -> Result<Self, ApiError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, action)| *action)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::UnknownAction,
                    format!("unknown action '{name}'; allowed: generate, train, info"),
                )
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `Invoke` through the Lambda API (IAM-authenticated).
    Direct,
    /// A function URL or API Gateway HTTP request (possibly public).
    Http,
}

impl Transport {
    pub fn of(event: &Value) -> Self {
        let http = event
            .get("requestContext")
            .is_some_and(|context| context.get("http").is_some());
        if http {
            Transport::Http
        } else {
            Transport::Direct
        }
    }
}

/// One parsed invocation: the action and its arguments (the request fields).
#[derive(Debug)]
pub struct Call {
    pub action: Action,
    pub arguments: Map<String, Value>,
}

impl Call {
    /// The action comes from the HTTP path (`/generate`, `/info`; `/` is generate) or the body's
    /// `"action"` field; the other fields are the action's arguments.
    pub fn parse(event: Value, transport: Transport) -> Result<Self, ApiError> {
        let (path_action, body) = match transport {
            Transport::Direct => (None, event),
            Transport::Http => http_parts(event)?,
        };
        let Value::Object(mut arguments) = body else {
            return Err(ApiError::invalid("request", "must be a JSON object"));
        };
        let body_action = match arguments.remove("action") {
            None => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err(ApiError::invalid("action", "must be a string")),
        };
        let name = match (path_action, body_action) {
            (Some(path), Some(body)) if path != body => {
                return Err(ApiError::invalid(
                    "action",
                    format!("the path says '{path}' but the body says '{body}'"),
                ));
            }
            (path, body) => path.or(body).unwrap_or_else(|| "generate".to_string()),
        };
        Ok(Self {
            action: Action::parse(&name)?,
            arguments,
        })
    }
}

fn http_parts(event: Value) -> Result<(Option<String>, Value), ApiError> {
    let request: LambdaFunctionUrlRequest = serde_json::from_value(event)
        .map_err(|e| ApiError::invalid("request", format!("not an HTTP event: {e}")))?;
    let path = request
        .raw_path
        .or(request.request_context.http.path)
        .unwrap_or_default();
    let action = Some(path.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    // GET /info reads; everything else is a POST with a body (README, "The Lambda function").
    // Unknown paths stay 404 whatever the method.
    let method = request
        .request_context
        .http
        .method
        .as_deref()
        .unwrap_or("POST")
        .to_ascii_uppercase();
    let allow = match action.as_deref() {
        Some("info") => "GET, POST",
        None | Some("generate" | "train") => "POST",
        Some(_) => "GET, POST",
    };
    if !allow.split(", ").any(|m| m == method) {
        return Err(ApiError::method_not_allowed(&method, &path, allow));
    }
    let raw = request.body.unwrap_or_default();
    let bytes = if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|_| ApiError::invalid("request", "the body is not valid base64"))?
    } else {
        raw.into_bytes()
    };
    let body = if bytes.trim_ascii().is_empty() {
        Value::Object(Map::new())
    } else {
        parse_json(&bytes, "body")?
    };
    Ok((action, body))
}

/// What the runtime hands the handler: the invocation's bytes exactly as they came, as base64
/// in a JSON string (see [`carry_raw_payload`]).
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub struct RawPayload(String);

/// Wraps an invocation's bytes into a [`RawPayload`] before lambda_runtime deserialises them.
/// Left to itself the runtime parses the payload into a `Value`, which keeps the last of two
/// repeated keys, accepts content after the JSON, and answers a payload that is not JSON with
/// its own internal error type before the handler sees it; this way the handler parses every
/// payload with the same rules as an HTTP body and the CLI.
pub fn carry_raw_payload(mut invocation: LambdaInvocation) -> LambdaInvocation {
    let encoded = base64::engine::general_purpose::STANDARD.encode(&invocation.body);
    invocation.body = serde_json::to_vec(&encoded)
        .expect("a string serialises")
        .into();
    invocation
}

impl RawPayload {
    /// The payload as JSON, refused as a request is refused when it is not one JSON value or
    /// repeats a key.
    pub fn parse(&self) -> Result<Value, ApiError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.0)
            .map_err(|_| {
                ApiError::invalid(
                    "request",
                    "the payload did not come through the runtime layer",
                )
            })?;
        parse_json(&bytes, "payload")
    }
}

/// One JSON value, as the core reads a request: a UTF-8 byte-order mark is skipped, content
/// after the value is refused, and so is an object that gives a key twice (a `Value` would
/// keep the last one, where the CLI and the browser refuse it). `what` names the text in
/// messages ("body", "payload").
fn parse_json(bytes: &[u8], what: &str) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("request", format!("the {what} is not UTF-8 text")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let not_json = |e: serde_json::Error| {
        ApiError::invalid("request", format!("the {what} is not valid JSON: {e}"))
    };
    if !text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(not_json);
    }
    let UniqueKeys(map) = serde_json::from_str(text).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            ApiError::invalid("request", message.to_string())
        } else {
            not_json(e)
        }
    })?;
    Ok(Value::Object(map))
}

/// A JSON object in which no key is given twice.
struct UniqueKeys(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    let value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(UniqueKeys(map))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// A successful answer and what HTTP callers may also want to know.
pub struct Reply {
    pub body: Value,
    /// `x-designer-cache: hit|miss` for generate.
    pub cache_hit: Option<bool>,
}

/// The invocation's result in its transport's shape: direct invokes get the JSON or a function
/// error; HTTP callers always get an HTTP response, with the error's status.
pub fn respond(transport: Transport, result: Result<Reply, ApiError>) -> Result<Value, Diagnostic> {
    match transport {
        Transport::Direct => result.map(|reply| reply.body).map_err(|e| e.diagnostic()),
        Transport::Http => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let (status, body) = match result {
                Ok(reply) => {
                    if let Some(hit) = reply.cache_hit {
                        let value = HeaderValue::from_static(if hit { "hit" } else { "miss" });
                        headers.insert("x-designer-cache", value);
                    }
                    (200, reply.body)
                }
                Err(error) => {
                    if let Some(allow) = error.allow {
                        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
                    }
                    (error.kind.status(), error.body())
                }
            };
            let mut response = LambdaFunctionUrlResponse::default();
            response.status_code = i64::from(status);
            response.headers = headers;
            response.body = Some(body.to_string());
            Ok(serde_json::to_value(response).expect("an HTTP response serializes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http(path: &str, body: &str) -> Value {
        http_with("POST", path, body)
    }

    fn http_with(method: &str, path: &str, body: &str) -> Value {
        json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "", "headers": {},
            "requestContext": {
                "requestId": "r1", "timeEpoch": 1795797682, "routeKey": "$default", "stage": "$default",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
            },
            "body": body, "isBase64Encoded": false
        })
    }

    #[test]
    fn actions_come_from_the_path_or_the_body() {
        let direct = json!({"action": "info"});
        assert_eq!(Transport::of(&direct), Transport::Direct);
        assert_eq!(
            Call::parse(direct, Transport::Direct).unwrap().action,
            Action::Info
        );
        let plain = json!({"room_type": "office", "style": "modern"});
        let call = Call::parse(plain, Transport::Direct).unwrap();
        assert_eq!(call.action, Action::Generate);
        assert_eq!(call.arguments.len(), 2);
        let event = http("/info", "");
        assert_eq!(Transport::of(&event), Transport::Http);
        assert_eq!(
            Call::parse(event, Transport::Http).unwrap().action,
            Action::Info
        );
        let event = http("/", r#"{"room_type":"office","style":"modern"}"#);
        assert_eq!(
            Call::parse(event, Transport::Http).unwrap().action,
            Action::Generate
        );
    }

    #[test]
    fn bad_calls_are_refused_with_their_reason() {
        let cases = [
            (
                http("/paint", "{}"),
                ErrorKind::UnknownAction,
                "allowed: generate, train, info",
            ),
            (
                http("/", "{\"room_type\":"),
                ErrorKind::Invalid,
                "not valid JSON",
            ),
            (
                http("/", "[1]"),
                ErrorKind::Invalid,
                "must be a JSON object",
            ),
            (
                http("/info", r#"{"action":"train"}"#),
                ErrorKind::Invalid,
                "path says",
            ),
            (json!({"action": 3}), ErrorKind::Invalid, "must be a string"),
            (
                http(
                    "/",
                    r#"{"room_type":"castle","room_type":"bedroom","style":"modern"}"#,
                ),
                ErrorKind::Invalid,
                "duplicate field `room_type`",
            ),
            (
                http_with("DELETE", "/", "{}"),
                ErrorKind::MethodNotAllowed,
                "DELETE / is not answered; use POST",
            ),
            (
                http_with("GET", "/", ""),
                ErrorKind::MethodNotAllowed,
                "use POST",
            ),
            (
                http_with("PUT", "/info", ""),
                ErrorKind::MethodNotAllowed,
                "use GET, POST",
            ),
            (
                json!("generate"),
                ErrorKind::Invalid,
                "must be a JSON object",
            ),
        ];
        for (event, kind, needle) in cases {
            let error = Call::parse(event.clone(), Transport::of(&event)).unwrap_err();
            assert_eq!(error.kind, kind, "{event}");
            assert!(error.message.contains(needle), "{}", error.message);
        }
    }

    #[test]
    fn a_refused_method_is_answered_405_with_allow() {
        let error = Call::parse(http_with("DELETE", "/", ""), Transport::Http).unwrap_err();
        let reply = respond(Transport::Http, Err(error)).unwrap();
        assert_eq!(reply["statusCode"], 405);
        assert_eq!(reply["headers"]["allow"], "POST");
        let info = Call::parse(http_with("GET", "/info", ""), Transport::Http).unwrap();
        assert_eq!(info.action, Action::Info);
    }

    #[test]
    fn http_errors_carry_their_status_and_direct_ones_their_type() {
        let error = ApiError::invalid("style", "unknown variant `gothic`");
        let http = respond(Transport::Http, Err(error.clone())).unwrap();
        assert_eq!(http["statusCode"], 400);
        let body: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"error": "invalid", "field": "style", "message": "unknown variant `gothic`"})
        );
        let direct = respond(Transport::Direct, Err(error)).unwrap_err();
        assert_eq!(direct.error_type, "InvalidRequest");
        assert_eq!(
            direct.error_message,
            "invalid style: unknown variant `gothic`"
        );
    }
}
