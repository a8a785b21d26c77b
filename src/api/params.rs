//! Query parameters as Docker clients send them: repeated keys (`names=a&names=b`), every boolean
//! spelling (`1`, `True`, `false`), and filters in both JSON encodings.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::engine::filters::Filters;

/// The query string as ordered key/value pairs.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params(form_urlencoded::parse(query.as_bytes()).into_owned().collect()))
    }
}

impl Params {
    /// The first value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// A boolean, by dockerd's rule; `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).map(parse_bool).unwrap_or(default)
    }

    /// A boolean that is false when absent.
    pub fn flag(&self, key: &str) -> bool {
        self.bool_or(key, false)
    }

    /// A non-empty string value.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// A terminal size from `h` and `w` (rows, columns), as resize takes them.
    pub fn terminal_size(&self) -> Result<(u16, u16), ApiError> {
        let size = |key: &str| {
            self.get(key)
                .and_then(|v| v.parse::<u16>().ok())
                .ok_or_else(|| ApiError::bad_request(format!("invalid {key}")))
        };
        Ok((size("h")?, size("w")?))
    }

    /// The `filters` parameter, in either encoding.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        Filters::parse(self.get("filters")).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// dockerd's boolean rule: lower-cased and trimmed, "", "0", "no", "false" and "none" are
/// false; everything else is true.
pub fn parse_bool(value: &str) -> bool {
    !matches!(value.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_dockerd() {
        for t in ["1", "true", "True", "TRUE", "yes", " on "] {
            assert!(parse_bool(t), "{t}");
        }
        for f in ["", "0", "false", "False", "no", "none"] {
            assert!(!parse_bool(f), "{f}");
        }
    }

    #[test]
    fn repeated_keys_and_defaults() {
        let p =
            Params(vec![("names".into(), "a".into()), ("names".into(), "b".into()), ("quiet".into(), "False".into())]);
        assert_eq!(p.all("names"), vec!["a", "b"]);
        assert!(!p.bool_or("quiet", true));
        assert!(p.bool_or("stream", true));
        assert_eq!(p.string("names").as_deref(), Some("a"));
    }
}
