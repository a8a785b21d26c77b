//! Request bodies as JSON, the Docker way: the Content-Type is never checked (clients send
//! text/plain, or none), an empty body is the default value, and malformed JSON is a 400 with
//! a `{"message": …}` body.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest JSON body accepted.
const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::to_bytes(request.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        parse(&body).map(JsonBody)
    }
}

/// Parses a body the way `JsonBody` does, for handlers that read the body themselves.
pub fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default_and_garbage_is_a_400() {
        let empty: serde_json::Value = parse(&Bytes::from_static(b"  ")).unwrap();
        assert!(empty.is_null());
        let err = parse::<serde_json::Value>(&Bytes::from_static(b"{bad")).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("invalid JSON"));
    }
}
