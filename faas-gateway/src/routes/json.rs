//! [`JsonBody`]: a JSON request body whose errors name the field (400), within the body limit
//! (413).

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::GatewayError;
use crate::state::AppState;

/// A JSON body of type `T`; `None` when the body is empty.
#[derive(Debug)]
pub struct JsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config().max_body_bytes;
        let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
        let bytes = axum::body::to_bytes(req.into_body(), limit_usize)
            .await
            .map_err(|e| {
                if std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                {
                    GatewayError::BodyTooLarge { limit }
                } else {
                    GatewayError::BodyRead(Box::new(e))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        parse(&bytes).map(|v| Self(Some(v)))
    }
}

/// Parses `bytes` as `T`, naming the field at fault: the JSON path of a wrong value, the name
/// of a missing field, or `body` when the text is not JSON.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let field = if inner.is_syntax() || inner.is_eof() {
            "body".to_owned()
        } else if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            if path == "." {
                missing.to_owned()
            } else {
                format!("{path}.{missing}")
            }
        } else if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        GatewayError::bad_request(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faas_core::{FunctionDeployment, ScaleRequest};

    fn field(e: GatewayError) -> String {
        e.body().field.unwrap_or_default()
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<ScaleRequest>(br#"{"serviceName":"x","replicas":"two"}"#)
            .expect_err("must fail");
        assert_eq!(field(e), "replicas");
        let e = parse::<FunctionDeployment>(br#"{"image":"x"}"#).expect_err("must fail");
        assert_eq!(field(e), "service");
        let e = parse::<FunctionDeployment>(br#"{"service":"x","image":"y","labels":{"a":1}}"#)
            .expect_err("must fail");
        assert_eq!(field(e), "labels.a");
        let e = parse::<FunctionDeployment>(b"{not json").expect_err("must fail");
        assert_eq!(field(e), "body");
    }
}
