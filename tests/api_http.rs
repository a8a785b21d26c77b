//! The HTTP contract, checked with raw requests (what curl would show):
//! exact status codes, headers and error bodies, API version handling,
//! filter parsing, hostile archives and the bundled API docs.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Daemon, HttpReply, is_sha256_id, test_image_bytes};
use serde_json::{Value, json};

// ---- helpers -------------------------------------------------------------

fn assert_json_error(reply: &HttpReply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"), "error replies are JSON");
    assert_eq!(reply.json(), json!({ "message": message }));
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A name no other test run uses.
fn unique() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// Builds a ustar archive by hand, so entries can be as hostile as needed
/// (the `tar` crate refuses to write `..` paths).
#[derive(Default)]
struct TarBuilder {
    data: Vec<u8>,
}

impl TarBuilder {
    fn file(mut self, name: &str, content: &[u8]) -> Self {
        self.header(name, b'0', "", content.len(), 0o644);
        self.data.extend_from_slice(content);
        let pad = (512 - content.len() % 512) % 512;
        self.data.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn dir(mut self, name: &str) -> Self {
        self.header(name, b'5', "", 0, 0o755);
        self
    }

    fn symlink(mut self, name: &str, target: &str) -> Self {
        self.header(name, b'2', target, 0, 0o777);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.data.extend(std::iter::repeat_n(0u8, 1024));
        self.data
    }

    fn header(&mut self, name: &str, kind: u8, link: &str, size: usize, mode: u32) {
        assert!(name.len() <= 100 && link.len() <= 100, "name too long");
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, width: usize, value: u64| {
            let s = format!("{value:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, mode as u64);
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, size as u64);
        octal(&mut h, 136, 12, 946_684_800);
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        // Checksum: sum of the header with the checksum field as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.data.extend_from_slice(&h);
    }
}

/// The error text of an import/load reply: the message of a non-2xx reply,
/// or the `error`/`errorDetail` of a 200 progress stream. None when the
/// reply reports success.
fn error_text(reply: &HttpReply) -> Option<String> {
    if !(200..300).contains(&reply.status) {
        let body = reply.text();
        return Some(
            serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or(body),
        );
    }
    reply.json_lines().iter().find_map(|m| {
        m.get("errorDetail")
            .and_then(|e| e["message"].as_str())
            .or_else(|| m.get("error").and_then(Value::as_str))
            .map(str::to_string)
    })
}

fn import_via_api(d: &Daemon, repo: &str, tag: &str, body: &[u8]) -> HttpReply {
    d.http(
        "POST",
        &format!("/images/create?fromSrc=-&repo={repo}&tag={tag}"),
        Some(body),
        &[("Content-Type", "application/x-tar")],
    )
}

fn images(d: &Daemon, query: &str) -> Value {
    let reply = d.get(&format!("/images/json{query}"));
    assert_eq!(reply.status, 200, "GET /images/json{query}: {}", reply.text());
    reply.json()
}

/// Files anywhere under `dir` whose name contains `needle`.
fn find_named(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(needle) {
            found.push(path.display().to_string());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(find_named(&path, needle));
        }
    }
    found
}

/// The daemon's staging directory holds nothing after a failed import/load.
fn assert_staging_empty(d: &Daemon) {
    let staging = d.data_root().join("tmp");
    if let Ok(entries) = std::fs::read_dir(&staging) {
        let left: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "left in {}: {left:?}", staging.display());
    }
}

fn assert_no_images(d: &Daemon) {
    assert_eq!(images(d, "?all=1"), json!([]), "nothing may be stored");
}

// ---- _ping, version ---------------------------------------------------------

fn assert_api_headers(reply: &HttpReply, what: &str) {
    assert_eq!(reply.header("api-version"), Some("1.50"), "{what}");
    assert_eq!(reply.header("ostype"), Some("linux"), "{what}");
    assert!(
        reply.header("server").is_some_and(|s| s.contains("Docker/")),
        "{what}: Server header {:?}",
        reply.header("server")
    );
    assert_eq!(reply.header("docker-experimental"), Some("false"), "{what}");
    assert!(
        reply.header("cache-control").is_some_and(|c| c.contains("no-cache")),
        "{what}: Cache-Control {:?}",
        reply.header("cache-control")
    );
}

#[test]
fn ping_answers_get_and_head() {
    let d = Daemon::start();
    for path in ["/_ping", "/v1.50/_ping", "/v1.24/_ping"] {
        let reply = d.get(path);
        assert_eq!(reply.status, 200, "GET {path}");
        assert_eq!(reply.text(), "OK", "GET {path}");
        assert_api_headers(&reply, &format!("GET {path}"));
    }
    let reply = d.http("HEAD", "/_ping", None, &[]);
    assert_eq!(reply.status, 200, "HEAD /_ping");
    assert!(reply.body.is_empty());
    assert_api_headers(&reply, "HEAD /_ping");
}

#[test]
fn version_reports_the_api_range() {
    let d = Daemon::start();
    for path in ["/version", "/v1.24/version", "/v1.50/version"] {
        let reply = d.get(path);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let v = reply.json();
        assert_eq!(v["ApiVersion"], "1.50", "{path}: {v}");
        assert_eq!(v["MinAPIVersion"], "1.24", "{path}: {v}");
        assert_eq!(v["Os"], "linux", "{path}: {v}");
    }
}

#[test]
fn api_versions_out_of_range_are_refused() {
    let d = Daemon::start();
    assert_json_error(
        &d.get("/v1.99/version"),
        400,
        "client version 1.99 is too new. Maximum supported API version is 1.50",
    );
    assert_json_error(
        &d.get("/v1.12/version"),
        400,
        "client version 1.12 is too old. Minimum supported API version is 1.24, \
         please upgrade your client to a newer version",
    );
}

// ---- errors -----------------------------------------------------------------

#[test]
fn unknown_route_is_a_json_404() {
    let d = Daemon::start();
    assert_json_error(&d.get("/nope"), 404, "page not found");
    assert_json_error(&d.get("/v1.50/nope"), 404, "page not found");
}

#[test]
fn missing_image_is_a_404() {
    let d = Daemon::start();
    assert_json_error(&d.get("/images/nosuch:latest/json"), 404, "No such image: nosuch:latest");
}

#[test]
fn malformed_json_body_is_a_400() {
    let d = Daemon::start();
    let reply = d.http("POST", "/containers/create", Some(b"{bad"), &[("Content-Type", "application/json")]);
    assert_eq!(reply.status, 400, "body: {}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let message = reply.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "no message: {}", reply.text());
}

// ---- hostile archives -------------------------------------------------------

#[test]
fn import_refuses_an_entry_that_climbs_out() {
    let d = Daemon::start();
    let name = format!("kapsel-escape-{}", unique());
    let outside = Path::new("/tmp").join(&name);
    let tar =
        TarBuilder::default().file("ok.txt", b"fine\n").file(&format!("../../../../tmp/{name}"), b"escaped\n").finish();

    let reply = import_via_api(&d, "hostile", "a", &tar);
    let error = error_text(&reply)
        .unwrap_or_else(|| panic!("importing a tar with ../ entries succeeded: {} {}", reply.status, reply.text()));
    assert!(error.contains(&name), "the error does not name the entry: {error}");
    assert!(!outside.exists(), "{} was written", outside.display());
    assert_eq!(find_named(d.data_root(), &name), Vec::<String>::new());
    assert_no_images(&d);
    assert_staging_empty(&d);
}

#[test]
fn import_refuses_writing_through_a_symlink() {
    let d = Daemon::start();
    let u = unique();
    // The target exists, so an extractor that follows the link would
    // succeed in writing outside.
    let target = Path::new("/tmp").join(format!("kapsel-escape-dir-{u}"));
    std::fs::create_dir(&target).unwrap();
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _cleanup = Cleanup(&target);

    let tar = TarBuilder::default()
        .dir("etc")
        .symlink("evil", target.to_str().unwrap())
        .file("evil/pwned", b"pwned\n")
        .finish();
    let reply = import_via_api(&d, "hostile", "b", &tar);
    let error = error_text(&reply).unwrap_or_else(|| {
        panic!("importing a tar that writes through a symlink succeeded: {} {}", reply.status, reply.text())
    });
    assert!(error.contains("evil"), "the error does not name the entry: {error}");
    let pwned = target.join("pwned");
    assert!(!pwned.exists(), "{} was written", pwned.display());
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert_no_images(&d);
    assert_staging_empty(&d);
}

#[test]
fn load_refuses_an_archive_that_climbs_out() {
    let d = Daemon::start();
    let name = format!("kapsel-load-escape-{}", unique());
    let manifest = br#"[{"Config":"c.json","RepoTags":["hostile:load"],"Layers":["l/layer.tar"]}]"#;
    let tar = TarBuilder::default()
        .file("manifest.json", manifest)
        .file(&format!("../{name}"), b"escaped\n")
        .file(&format!("../../../../../../tmp/{name}"), b"escaped\n")
        .finish();
    let reply = d.http("POST", "/images/load?quiet=1", Some(&tar), &[("Content-Type", "application/x-tar")]);
    assert!(
        error_text(&reply).is_some(),
        "loading an archive with ../ entries succeeded: {} {}",
        reply.status,
        reply.text()
    );
    let outside = Path::new("/tmp").join(&name);
    assert!(!outside.exists(), "{} was written", outside.display());
    let parent = d.data_root().parent().unwrap();
    assert!(!parent.join(&name).exists(), "written next to the data root");
    assert_eq!(find_named(d.data_root(), &name), Vec::<String>::new());
    assert_no_images(&d);
    assert_staging_empty(&d);
}

// ---- images/json query parameters ------------------------------------------

#[test]
fn import_stream_then_filters_in_both_json_forms() {
    let d = Daemon::start();
    let image = test_image_bytes();
    let reply = import_via_api(&d, "busybox", "latest", &image);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let stream = reply.json_lines();
    let id = stream
        .last()
        .and_then(|m| m["status"].as_str())
        .unwrap_or_else(|| panic!("import stream without a final status: {}", reply.text()))
        .to_string();
    assert!(is_sha256_id(&id), "import reported {id:?}");
    assert_eq!(import_via_api(&d, "other", "1", &image).status, 200);

    let list_form = images(&d, &format!("?filters={}", encode(r#"{"reference":["busybox"]}"#)));
    let map_form = images(&d, &format!("?filters={}", encode(r#"{"reference":{"busybox":true}}"#)));
    assert_eq!(list_form, map_form);
    let found = list_form.as_array().unwrap();
    assert_eq!(found.len(), 1, "{list_form}");
    assert_eq!(found[0]["Id"], id.as_str());
    assert_eq!(found[0]["RepoTags"], json!(["busybox:latest"]));

    assert_eq!(images(&d, "").as_array().unwrap().len(), 2);

    assert_json_error(
        &d.get(&format!("/images/json?filters={}", encode(r#"{"bogus":["x"]}"#))),
        400,
        "invalid filter 'bogus'",
    );
}

#[test]
fn boolean_query_parameters_accept_go_spellings() {
    let d = Daemon::start();
    for value in ["True", "1", "false", "0", "true"] {
        let reply = d.get(&format!("/images/json?all={value}"));
        assert_eq!(reply.status, 200, "all={value}: {}", reply.text());
        assert!(reply.json().is_array(), "all={value}");
    }
}

// ---- API description --------------------------------------------------------

#[test]
fn openapi_document_is_served() {
    let d = Daemon::start();
    let reply = d.get("/openapi.json");
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "openapi: {}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.keys().any(|p| p.ends_with("/images/json")),
        "no /images/json in {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

/// Values of `src="…"` and `href="…"` attributes in an HTML page.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=", "href="] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                urls.push(rest[1..1 + end].to_string());
            }
        }
    }
    urls
}

fn is_local_url(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| url.starts_with(p))
}

#[test]
fn docs_page_works_offline() {
    let d = Daemon::start();
    let mut path = "/docs/".to_string();
    let mut reply = d.get(&path);
    for _ in 0..3 {
        if !(300..400).contains(&reply.status) {
            break;
        }
        let location = reply.header("location").expect("redirect without Location");
        assert!(location.starts_with('/') || !location.contains("://"), "redirect away from the daemon: {location}");
        path = if location.starts_with('/') {
            location.to_string()
        } else {
            format!("{}{location}", &path[..=path.rfind('/').unwrap()])
        };
        reply = d.get(&path);
    }
    assert_eq!(reply.status, 200, "GET {path}");
    assert!(
        reply.header("content-type").is_some_and(|c| c.starts_with("text/html")),
        "content-type {:?}",
        reply.header("content-type")
    );
    let html = reply.text();
    for scheme in ["http://", "https://"] {
        for (at, _) in html.match_indices(scheme) {
            let url = &html[at..html.len().min(at + 60)];
            assert!(is_local_url(url), "the docs page references {url}");
        }
    }
    // Every script, stylesheet and icon it links comes from the daemon.
    let base = &path[..=path.rfind('/').unwrap()];
    let links = linked_urls(&html);
    assert!(!links.is_empty(), "the docs page links nothing:\n{html}");
    for link in links {
        assert!(!link.starts_with("//"), "protocol-relative link {link}");
        if link.starts_with('#') || link.starts_with("data:") {
            continue;
        }
        let target =
            if link.starts_with('/') { link.clone() } else { format!("{base}{}", link.trim_start_matches("./")) };
        let asset = d.get(&target);
        assert_eq!(asset.status, 200, "{link} (GET {target}) of the docs page");
    }
}
