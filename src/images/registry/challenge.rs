//! `WWW-Authenticate` challenges (RFC 7235) as registries send them on a 401, and the token
//! reply of the bearer-token exchange (the distribution spec's "token authentication").
//!
//! ```text
//! Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"
//! Basic realm="Registry Realm"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// One authentication scheme a registry offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic authentication with the user's name and password.
    Basic {
        /// The protection space, for messages only.
        realm: String,
    },
    /// Bearer tokens from a token server.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// The `service` to ask the token server for.
        service: Option<String>,
        /// The scope the registry asked for, if it named one.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header into the challenges it lists; unknown schemes are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    let mut parser = Parser { rest: header };
    let mut current: Option<(String, BTreeMap<String, String>)> = None;
    loop {
        parser.skip_separators();
        let Some(token) = parser.token() else {
            break;
        };
        parser.skip_spaces();
        if parser.rest.starts_with('=') && !parser.rest.starts_with("==") {
            // A parameter of the current challenge.
            parser.rest = &parser.rest[1..];
            parser.skip_spaces();
            let value = parser.value();
            if let Some((_, params)) = current.as_mut() {
                params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            // A new scheme starts.
            if let Some(done) = current.take() {
                challenges.extend(build(done));
            }
            current = Some((token.to_ascii_lowercase(), BTreeMap::new()));
        }
    }
    if let Some(done) = current.take() {
        challenges.extend(build(done));
    }
    challenges
}

/// Turns a parsed scheme and its parameters into a challenge we know how to answer.
fn build((scheme, mut params): (String, BTreeMap<String, String>)) -> Option<Challenge> {
    match scheme.as_str() {
        "basic" => Some(Challenge::Basic { realm: params.remove("realm").unwrap_or_default() }),
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        }),
        _ => None,
    }
}

/// A cursor over the header text.
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    /// An RFC 7230 token (for a token68 value, `=` padding is left for the caller).
    fn token(&mut self) -> Option<String> {
        let end =
            self.rest.find(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '"').unwrap_or(self.rest.len());
        if end == 0 {
            // Not a token: skip one character so the loop always advances.
            let mut chars = self.rest.chars();
            chars.next()?;
            self.rest = chars.as_str();
            return self.token();
        }
        let token = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        Some(token)
    }

    /// A parameter value: a quoted string (with `\` escapes) or a bare token.
    fn value(&mut self) -> String {
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        self.rest = &quoted[i + 1..];
                        return out;
                    }
                    c => out.push(c),
                }
            }
            self.rest = "";
            return out;
        }
        let end = self.rest.find([',', ' ', '\t']).unwrap_or(self.rest.len());
        let value = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        value
    }
}

/// The token server's reply: `token` (Docker) or `access_token` (OAuth 2), whichever is set.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenReply {
    /// The bearer token, as the Docker token spec names it.
    #[serde(default)]
    pub token: String,
    /// The bearer token, as OAuth 2 names it.
    #[serde(default)]
    pub access_token: String,
}

impl TokenReply {
    /// The token to send, or `None` when the reply had none.
    pub fn bearer(&self) -> Option<&str> {
        [self.token.as_str(), self.access_token.as_str()].into_iter().find(|t| !t.is_empty())
    }
}

/// The `repository:<name>:<actions>` scope of a token request.
pub fn repository_scope(repository: &str, push: bool) -> String {
    format!("repository:{repository}:{}", if push { "pull,push" } else { "pull" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            challenges,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_and_several_challenges() {
        assert_eq!(
            parse_challenges(r#"Basic realm="basic-realm""#),
            vec![Challenge::Basic { realm: "basic-realm".into() }]
        );
        let both = parse_challenges(r#"Basic realm="a b, c", Bearer realm=https://t/token , service="s\"x""#);
        assert_eq!(
            both,
            vec![
                Challenge::Basic { realm: "a b, c".into() },
                Challenge::Bearer { realm: "https://t/token".into(), service: Some("s\"x".into()), scope: None },
            ]
        );
    }

    #[test]
    fn skips_unknown_and_malformed_challenges() {
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("Negotiate abc==").is_empty());
        // A bearer challenge without a realm cannot be answered.
        assert!(parse_challenges(r#"Bearer service="x""#).is_empty());
        assert_eq!(parse_challenges("BASIC").len(), 1);
    }

    #[test]
    fn token_replies_and_scopes() {
        let docker: TokenReply = serde_json::from_str(r#"{"token":"t1","expires_in":300}"#).unwrap();
        assert_eq!(docker.bearer(), Some("t1"));
        let oauth: TokenReply = serde_json::from_str(r#"{"access_token":"t2"}"#).unwrap();
        assert_eq!(oauth.bearer(), Some("t2"));
        let empty: TokenReply = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.bearer(), None);
        assert_eq!(repository_scope("library/busybox", true), "repository:library/busybox:pull,push");
    }
}
