//! Pull and push over HTTP: `POST /images/create?fromImage=` and `POST /images/{name}/push`.
//! Both answer with dockerd's JSON progress stream (`\r\n`-separated); a failure before the
//! first message is an ordinary error reply (so `docker run` sees a 404 for an unknown tag),
//! one after it is an `errorDetail` message at the end of the stream.

use std::convert::Infallible;
use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::UnboundedReceiver;

use super::AppState;
use super::error::ApiResult;
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::Error;
use crate::engine::progress::{Progress, ProgressSender};
use crate::engine::pull::PullRequest;
use crate::engine::push::PushRequest;
use crate::images::registry::Credentials;

/// The header clients carry registry credentials in.
const REGISTRY_AUTH: &str = "x-registry-auth";

/// `POST /images/create?fromImage=…&tag=…[&platform=…]`: pulls an image.
pub async fn pull(state: AppState, tenant: Tenant, params: Params, headers: &HeaderMap) -> ApiResult<Response> {
    let request = PullRequest {
        image: params.string("fromImage").unwrap_or_default(),
        tag: params.string("tag"),
        platform: params.string("platform"),
        credentials: registry_auth(headers),
    };
    let (sender, receiver) = ProgressSender::channel();
    let engine = state.engine.clone();
    let work = async move { engine.pull_image(&tenant.0, request, &sender).await.map(drop) };
    progress_reply(work, receiver).await
}

/// Pushes an image (every local tag of the repository when no tag is named).
#[utoipa::path(post, path = "/images/{name}/push", tag = "Image",
    params(("name" = String, Path, description = "The repository, e.g. registry.example:5000/app"),
           ("tag" = Option<String>, Query, description = "The tag to push"),
           ("X-Registry-Auth" = Option<String>, Header, description = "base64url JSON {username,password,serveraddress}")),
    responses((status = 200, description = "JSON progress lines, ending with `TAG: digest: sha256:… size: N` and an aux {Tag,Digest,Size}",
               body = super::images::ProgressMessage),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn push(
    state: AppState,
    tenant: Tenant,
    name: &str,
    params: Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let request =
        PushRequest { name: name.to_string(), tag: params.string("tag"), credentials: registry_auth(headers) };
    let (sender, receiver) = ProgressSender::channel();
    let engine = state.engine.clone();
    let work = async move { engine.push_image(&tenant.0, request, &sender).await };
    progress_reply(work, receiver).await
}

/// The credentials of an `X-Registry-Auth` header. Like dockerd, an unreadable header counts as
/// none rather than failing the request.
fn registry_auth(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(REGISTRY_AUTH)?.to_str().ok()?;
    match Credentials::from_header(value) {
        Ok(credentials) => credentials,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring an unreadable X-Registry-Auth header");
            None
        }
    }
}

/// Runs `work` in its own task (it finishes even if the client goes away, though transfers stop
/// early then) and answers with its progress.
async fn progress_reply<F>(work: F, mut receiver: UnboundedReceiver<Progress>) -> ApiResult<Response>
where
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    let mut task = tokio::spawn(work);
    let Some(first) = receiver.recv().await else {
        // The work ended without a word: an error is the reply's status.
        task.await.map_err(Error::from)??;
        return Ok(stream_response(Body::empty()));
    };
    let stream = async_stream::stream! {
        yield Ok::<Bytes, Infallible>(line(&first));
        while let Some(message) = receiver.recv().await {
            yield Ok(line(&message));
        }
        let failure = match (&mut task).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(Error::from(e).to_string()),
        };
        if let Some(message) = failure {
            tracing::warn!(error = %message, "pull or push failed mid-stream");
            yield Ok(line(&Progress::error(message)));
        }
    };
    Ok(stream_response(Body::from_stream(stream)))
}

/// One message and its `\r\n`.
fn line(message: &Progress) -> Bytes {
    let mut text = serde_json::to_vec(message).expect("progress always serializes");
    text.extend_from_slice(b"\r\n");
    Bytes::from(text)
}

/// A 200 `application/json` reply around a body.
fn stream_response(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
