//! The HTTP conversation with one registry repository: the `/v2/` ping that picks the endpoint
//! and learns the authentication challenge, the bearer-token exchange (or basic credentials),
//! then manifests, blobs, uploads and cross-repository mounts.
//!
//! A client lives for one pull, push or login and holds that request's credentials only.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tokio::sync::Mutex;

use super::challenge::{Challenge, TokenReply, parse_challenges, repository_scope};
use super::credentials::Credentials;
use super::endpoint::Endpoint;
use super::error::{RegistryError, status_text};
use super::manifest::{ACCEPTED_MANIFESTS, MAX_MANIFEST_BYTES};

/// How long connecting to a registry may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a registry may stay silent mid-reply.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// What kapsel calls itself to registries.
const USER_AGENT: &str = concat!("kapsel/", env!("CARGO_PKG_VERSION"));

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The exact bytes (their sha256 is the manifest's digest).
    pub bytes: Vec<u8>,
    /// The `Content-Type` the registry sent.
    pub content_type: String,
}

/// What a cross-repository mount did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    /// The blob is now in the repository.
    Mounted,
    /// The registry declined and opened an upload session at this URL instead.
    Upload(String),
}

/// How requests are authenticated, once the challenge is answered.
#[derive(Debug, Clone, Default)]
struct AuthState {
    /// The challenge the registry's ping sent (none: open registry).
    challenge: Option<Challenge>,
    /// The `Authorization` header to send.
    header: Option<HeaderValue>,
}

/// A client of one repository on one registry endpoint.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    repository: String,
    credentials: Option<Credentials>,
    /// Token scopes: this repository's (pull, or pull and push) and any mount sources'.
    scopes: Vec<String>,
    auth: Mutex<AuthState>,
}

impl RegistryClient {
    /// Connects to the first of `endpoints` that answers the `/v2/` ping and authenticates for
    /// `repository` (`library/busybox`) with `push` access or read-only; `mount_from` names other
    /// repositories of the registry whose blobs a push may mount.
    pub async fn connect(
        endpoints: &[Endpoint],
        repository: &str,
        credentials: Option<Credentials>,
        push: bool,
        mount_from: &[String],
    ) -> Result<RegistryClient, RegistryError> {
        let mut scopes = vec![repository_scope(repository, push)];
        scopes.extend(mount_from.iter().filter(|r| r.as_str() != repository).map(|r| repository_scope(r, false)));
        let mut last_error = None;
        for endpoint in endpoints {
            let http = http_client(endpoint)?;
            let client = RegistryClient {
                http,
                endpoint: endpoint.clone(),
                repository: repository.to_string(),
                credentials: credentials.clone(),
                scopes: scopes.clone(),
                auth: Mutex::new(AuthState::default()),
            };
            match client.ping().await {
                Ok(challenge) => {
                    client.auth.lock().await.challenge = challenge;
                    client.authorize().await?;
                    return Ok(client);
                }
                Err(e) if e.is_transport() => {
                    tracing::debug!(endpoint = %endpoint.base, error = %e, "registry endpoint unreachable");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| RegistryError::Protocol("no registry endpoint to try".into())))
    }

    /// Checks credentials the way `docker login` does: against the first of `endpoints` that
    /// answers, with basic authentication or a token, whichever the registry asks for.
    pub async fn login(endpoints: &[Endpoint], credentials: &Credentials) -> Result<(), RegistryError> {
        let mut last_error = None;
        for endpoint in endpoints {
            let client = RegistryClient {
                http: http_client(endpoint)?,
                endpoint: endpoint.clone(),
                repository: String::new(),
                credentials: Some(credentials.clone()),
                scopes: Vec::new(),
                auth: Mutex::new(AuthState::default()),
            };
            let challenge = match client.ping().await {
                Ok(challenge) => challenge,
                Err(e) if e.is_transport() => {
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if challenge.is_none() {
                // An open registry accepts anyone, as dockerd's login does.
                return Ok(());
            }
            client.auth.lock().await.challenge = challenge;
            client.authorize().await?;
            let url = client.url("/v2/");
            let reply = client.send_once(Method::GET, &url, |r| r).await?;
            return match reply.status() {
                status if status.is_success() => Ok(()),
                status => Err(RegistryError::LoginFailed {
                    url,
                    status: format!("{} {}", status.as_u16(), status_text(status.as_u16())),
                }),
            };
        }
        Err(last_error.unwrap_or_else(|| RegistryError::Protocol("no registry endpoint to try".into())))
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Fetches a manifest or index by tag or digest.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest, RegistryError> {
        let url = self.url(&format!("/v2/{}/manifests/{reference}", self.repository));
        let accept = ACCEPTED_MANIFESTS.join(", ");
        let reply = self.send(Method::GET, &url, |r| r.header(ACCEPT, &accept)).await?;
        let reply = check(reply).await?;
        let content_type =
            reply.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = read_limited(reply, MAX_MANIFEST_BYTES, &url).await?;
        Ok(FetchedManifest { bytes, content_type })
    }

    /// Starts fetching a blob; the reply's body is the blob (redirects are followed).
    pub async fn get_blob(&self, digest: &str) -> Result<Response, RegistryError> {
        let url = self.url(&format!("/v2/{}/blobs/{digest}", self.repository));
        check(self.send(Method::GET, &url, |r| r).await?).await
    }

    /// Fetches a small blob (an image config) whole, refusing more than `limit` bytes.
    pub async fn get_small_blob(&self, digest: &str, limit: usize) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("/v2/{}/blobs/{digest}", self.repository));
        let reply = check(self.send(Method::GET, &url, |r| r).await?).await?;
        read_limited(reply, limit, &url).await
    }

    /// Whether the repository has a blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{}/blobs/{digest}", self.repository));
        let reply = self.send(Method::HEAD, &url, |r| r).await?;
        match reply.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(RegistryError::from_reply(status.as_u16(), b"")),
        }
    }

    /// Asks the registry to mount a blob from another of its repositories.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<MountOutcome, RegistryError> {
        let mut url = reqwest::Url::parse(&self.url(&format!("/v2/{}/blobs/uploads/", self.repository)))
            .map_err(|e| RegistryError::Protocol(format!("invalid registry URL: {e}")))?;
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let reply = self.send(Method::POST, url.as_str(), |r| r.header(CONTENT_LENGTH, 0)).await?;
        match reply.status() {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => Ok(MountOutcome::Upload(self.location(&reply)?)),
            _ => Err(check(reply).await.err().unwrap_or_else(|| RegistryError::Protocol("unexpected reply".into()))),
        }
    }

    /// Opens an upload session; returns its URL.
    pub async fn start_upload(&self) -> Result<String, RegistryError> {
        let url = self.url(&format!("/v2/{}/blobs/uploads/", self.repository));
        let reply = check(self.send(Method::POST, &url, |r| r.header(CONTENT_LENGTH, 0)).await?).await?;
        self.location(&reply)
    }

    /// Uploads a whole blob into a session (a monolithic `PUT`) and commits it under `digest`.
    pub async fn finish_upload(
        &self,
        location: &str,
        digest: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let mut url = reqwest::Url::parse(location)
            .map_err(|e| RegistryError::Protocol(format!("invalid upload location {location:?}: {e}")))?;
        url.query_pairs_mut().append_pair("digest", digest);
        let body = std::sync::Mutex::new(Some(body));
        let reply = self
            .send_once(Method::PUT, url.as_str(), |r| {
                let r = r.header(CONTENT_TYPE, "application/octet-stream").header(CONTENT_LENGTH, size);
                match body.lock().expect("not poisoned").take() {
                    Some(body) => r.body(body),
                    None => r,
                }
            })
            .await?;
        check(reply).await.map(drop)
    }

    /// Uploads a small blob held in memory (an image config).
    pub async fn upload_bytes(&self, digest: &str, bytes: Vec<u8>) -> Result<(), RegistryError> {
        let location = self.start_upload().await?;
        let size = bytes.len() as u64;
        self.finish_upload(&location, digest, size, reqwest::Body::from(bytes)).await
    }

    /// Stores a manifest under a tag (or digest).
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Vec<u8>) -> Result<(), RegistryError> {
        let url = self.url(&format!("/v2/{}/manifests/{reference}", self.repository));
        let reply = self.send(Method::PUT, &url, |r| r.header(CONTENT_TYPE, media_type).body(bytes.clone())).await?;
        check(reply).await.map(drop)
    }

    /// `GET /v2/`: `Ok(None)` for an open registry, the challenge for one that wants credentials.
    async fn ping(&self) -> Result<Option<Challenge>, RegistryError> {
        let url = self.url("/v2/");
        let reply = self.raw_send(Method::GET, &url, |r| r).await?;
        if reply.status() == StatusCode::UNAUTHORIZED {
            let challenges: Vec<Challenge> = reply
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect();
            // Prefer tokens, as Docker's client does.
            let bearer = challenges.iter().find(|c| matches!(c, Challenge::Bearer { .. })).cloned();
            return Ok(bearer
                .or_else(|| challenges.into_iter().next())
                .or(Some(Challenge::Basic { realm: String::new() })));
        }
        if reply.status().is_success() {
            return Ok(None);
        }
        // Some registries answer 404 at /v2/ but serve repositories fine; go on without auth.
        tracing::debug!(status = %reply.status(), %url, "unexpected reply to the registry ping");
        Ok(None)
    }

    /// Answers the ping's challenge: basic credentials, or a bearer token for the scopes.
    async fn authorize(&self) -> Result<(), RegistryError> {
        let challenge = self.auth.lock().await.challenge.clone();
        let header = match (&challenge, &self.credentials) {
            (_, Some(credentials)) if !credentials.registry_token.is_empty() => {
                Some(header_value(&format!("Bearer {}", credentials.registry_token))?)
            }
            (None, _) => None,
            (Some(Challenge::Basic { .. }), Some(credentials)) => match credentials.basic() {
                Some((user, password)) => Some(basic_header(user, password)?),
                None => None,
            },
            (Some(Challenge::Basic { .. }), None) => None,
            (Some(Challenge::Bearer { realm, service, .. }), _) => {
                let token = self.fetch_token(realm, service.as_deref()).await?;
                Some(header_value(&format!("Bearer {token}"))?)
            }
        };
        self.auth.lock().await.header = header;
        Ok(())
    }

    /// The bearer-token exchange: `GET realm?service=…&scope=…` with basic credentials when there
    /// are some, or an OAuth refresh-token `POST` with an identity token.
    async fn fetch_token(&self, realm: &str, service: Option<&str>) -> Result<String, RegistryError> {
        let mut url = reqwest::Url::parse(realm)
            .map_err(|e| RegistryError::Protocol(format!("invalid token realm {realm:?}: {e}")))?;
        let credentials = self.credentials.as_ref();
        let request = if let Some(refresh) = credentials.map(|c| &c.identity_token).filter(|t| !t.is_empty()) {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
            form.push(("client_id", "kapsel"));
            if let Some(service) = service {
                form.push(("service", service));
            }
            let scope = self.scopes.join(" ");
            if !scope.is_empty() {
                form.push(("scope", &scope));
            }
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            self.http.post(url.clone()).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body)
        } else {
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                for scope in &self.scopes {
                    query.append_pair("scope", scope);
                }
            }
            let request = self.http.get(url.clone());
            match credentials.and_then(Credentials::basic) {
                Some((user, password)) => request.basic_auth(user, Some(password)),
                None => request,
            }
        };
        let method = if credentials.is_some_and(|c| !c.identity_token.is_empty()) { "Post" } else { "Get" };
        let reply = request.send().await.map_err(|e| transport(method, url.as_str(), &e))?;
        let reply = check(reply).await?;
        let bytes = read_limited(reply, 1024 * 1024, url.as_str()).await?;
        let token: TokenReply = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("invalid reply from the token server {realm}: {e}")))?;
        token
            .bearer()
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Protocol(format!("the token server {realm} sent no token")))
    }

    /// Sends a request with the current authorization; on a 401, authenticates again and
    /// retries once (tokens expire). `build` must be callable twice.
    async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let reply = self.send_once(method.clone(), url, &build).await?;
        if reply.status() != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        let challenge = self.auth.lock().await.challenge.clone();
        if matches!(challenge, Some(Challenge::Bearer { .. })) {
            self.authorize().await?;
            return self.send_once(method, url, &build).await;
        }
        Ok(reply)
    }

    /// Sends a request with the current authorization, once. A 401 from a registry that wants
    /// basic credentials the client did not send becomes dockerd's "no basic auth credentials".
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let header = self.auth.lock().await.header.clone();
        let reply = self
            .raw_send(method.clone(), url, |r| {
                let r = build(r);
                match &header {
                    Some(value) => r.header(AUTHORIZATION, value.clone()),
                    None => r,
                }
            })
            .await?;
        if reply.status() == StatusCode::UNAUTHORIZED && header.is_none() {
            let basic = matches!(self.auth.lock().await.challenge, Some(Challenge::Basic { .. }));
            if basic {
                return Err(RegistryError::NoBasicCredentials { method: go_method(&method), url: url.to_string() });
            }
        }
        Ok(reply)
    }

    /// Sends a request as built, mapping a failure to get any answer to a transport error.
    async fn raw_send(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        build(self.http.request(method.clone(), url)).send().await.map_err(|e| transport(&go_method(&method), url, &e))
    }

    /// `base + path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base)
    }

    /// The absolute URL of a reply's `Location` (which may be relative).
    fn location(&self, reply: &Response) -> Result<String, RegistryError> {
        let location = reply
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol("the registry sent no upload location".into()))?;
        reply
            .url()
            .join(location)
            .map(|u| u.to_string())
            .map_err(|e| RegistryError::Protocol(format!("invalid upload location {location:?}: {e}")))
    }
}

/// An HTTP client for one endpoint.
fn http_client(endpoint: &Endpoint) -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .danger_accept_invalid_certs(endpoint.skip_verify)
        .build()
        .map_err(|e| RegistryError::Protocol(format!("cannot make an HTTP client: {e}")))
}

/// Passes a success through; turns an error reply into its registry error.
async fn check(reply: Response) -> Result<Response, RegistryError> {
    if reply.status().is_success() {
        return Ok(reply);
    }
    let status = reply.status().as_u16();
    let body = reply.bytes().await.unwrap_or_default();
    Err(RegistryError::from_reply(status, &body[..body.len().min(64 * 1024)]))
}

/// Reads a whole reply body, refusing more than `limit` bytes.
async fn read_limited(mut reply: Response, limit: usize, url: &str) -> Result<Vec<u8>, RegistryError> {
    let too_big = || RegistryError::Protocol(format!("the reply from {url} is larger than {limit} bytes"));
    if reply.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = reply.chunk().await.map_err(|e| transport("Get", url, &e))? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A transport error with the whole cause chain (reqwest's top message alone says little).
pub(crate) fn transport(method: &str, url: &str, error: &reqwest::Error) -> RegistryError {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    let message = if parts.is_empty() { error.to_string() } else { parts.join(": ") };
    let message =
        if error.is_timeout() && !message.contains("timed out") { format!("{message}: timed out") } else { message };
    RegistryError::Transport { method: method.to_string(), url: url.to_string(), message }
}

/// `Head`, `Get`… as Go's `url.Error` prints a method.
fn go_method(method: &Method) -> String {
    let text = method.as_str();
    let mut out = text[..1].to_string();
    out.push_str(&text[1..].to_ascii_lowercase());
    out
}

/// `Basic base64(user:password)`.
fn basic_header(user: &str, password: &str) -> Result<HeaderValue, RegistryError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = header_value(&format!("Basic {encoded}"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A sensitive header value.
fn header_value(text: &str) -> Result<HeaderValue, RegistryError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| RegistryError::Protocol("credentials contain characters a header cannot carry".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{HeaderMap, StatusCode as AxumStatus};
    use axum::response::IntoResponse;
    use axum::routing::get;

    /// A registry that wants bearer tokens from its own token server, which wants `u:p`.
    async fn token_registry() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let challenge = format!(r#"Bearer realm="{base}/token",service="test""#);
        let manifest_challenge = challenge.clone();
        let app = Router::new()
            .route(
                "/v2/",
                get(move |headers: HeaderMap| {
                    let challenge = challenge.clone();
                    async move {
                        if headers.get("authorization").is_some_and(|v| v == "Bearer good") {
                            return AxumStatus::OK.into_response();
                        }
                        (AxumStatus::UNAUTHORIZED, [("www-authenticate", challenge)], "{}").into_response()
                    }
                }),
            )
            .route(
                "/token",
                get(|headers: HeaderMap, query: axum::extract::RawQuery| async move {
                    let query = query.0.unwrap_or_default();
                    assert!(query.contains("service=test"), "{query}");
                    let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p"));
                    match headers.get("authorization") {
                        Some(v) if *v == good[..] => r#"{"token":"good"}"#.into_response(),
                        Some(_) => (AxumStatus::UNAUTHORIZED, r#"{"details":"incorrect username or password"}"#)
                            .into_response(),
                        None => r#"{"access_token":"anonymous"}"#.into_response(),
                    }
                }),
            )
            .route(
                "/v2/team/app/manifests/{reference}",
                get(move |headers: HeaderMap| {
                    let challenge = manifest_challenge.clone();
                    async move {
                        if headers.get("authorization").is_some_and(|v| v == "Bearer good") {
                            return ([("content-type", super::super::manifest::OCI_MANIFEST)], "{\"x\":1}")
                                .into_response();
                        }
                        (
                            AxumStatus::UNAUTHORIZED,
                            [("www-authenticate", challenge)],
                            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                        )
                            .into_response()
                    }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (base, server)
    }

    fn endpoints(base: &str) -> Vec<Endpoint> {
        vec![Endpoint { base: base.to_string(), skip_verify: false, mirror: false }]
    }

    #[tokio::test]
    async fn bearer_token_flow() {
        let (base, server) = token_registry().await;
        let good = Credentials { username: "u".into(), password: "p".into(), ..Default::default() };
        let client =
            RegistryClient::connect(&endpoints(&base), "team/app", Some(good.clone()), false, &[]).await.unwrap();
        let manifest = client.get_manifest("latest").await.unwrap();
        assert_eq!(manifest.bytes, b"{\"x\":1}");
        assert_eq!(manifest.content_type, super::super::manifest::OCI_MANIFEST);

        // Anonymous: the token server hands out a token the registry refuses.
        let anonymous = RegistryClient::connect(&endpoints(&base), "team/app", None, false, &[]).await.unwrap();
        let error = anonymous.get_manifest("latest").await.unwrap_err();
        assert_eq!(error.to_string(), "unauthorized: authentication required");

        // Wrong password: the token server refuses.
        let bad = Credentials { username: "u".into(), password: "x".into(), ..Default::default() };
        let error =
            RegistryClient::connect(&endpoints(&base), "team/app", Some(bad.clone()), false, &[]).await.unwrap_err();
        assert_eq!(error.to_string(), "unauthorized: incorrect username or password");

        RegistryClient::login(&endpoints(&base), &good).await.unwrap();
        assert!(RegistryClient::login(&endpoints(&base), &bad).await.is_err());
        server.abort();
    }

    #[tokio::test]
    async fn unreachable_endpoints_fall_through() {
        let (base, server) = token_registry().await;
        // Nothing listens on port 9 of loopback (discard), so the first endpoint fails fast.
        let mut list = endpoints("http://127.0.0.1:9");
        list.extend(endpoints(&base));
        let good = Credentials { username: "u".into(), password: "p".into(), ..Default::default() };
        let client = RegistryClient::connect(&list, "team/app", Some(good), false, &[]).await.unwrap();
        assert_eq!(client.endpoint().base, base);
        let error = RegistryClient::connect(&endpoints("http://127.0.0.1:9"), "x", None, false, &[]).await.unwrap_err();
        assert!(error.is_transport(), "{error}");
        assert!(error.to_string().starts_with("Get \"http://127.0.0.1:9/v2/\": "), "{error}");
        server.abort();
    }

    #[test]
    fn methods_print_like_go() {
        assert_eq!(go_method(&Method::HEAD), "Head");
        assert_eq!(go_method(&Method::GET), "Get");
    }
}
