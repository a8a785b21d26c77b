//! Multi-tenancy acceptance: tenants and tokens through the admin API and the `kapsel` command
//! line, each tenant driving the unmodified docker CLI with its token in `HttpHeaders`, seeing
//! only its own objects, held to its quotas, defaults and confinement; 401 without a valid
//! token; rate limits; the audit log; CORS for browser front ends.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Daemon, running_as_root};
use serde_json::{Value, json};

/// A daemon whose TCP listener requires tokens.
fn daemon() -> Daemon {
    Daemon::start_with(&[])
}

/// The admin token the daemon wrote at its first start.
fn admin_token(d: &Daemon) -> String {
    std::fs::read_to_string(d.data_root().join("admin-token")).expect("the admin token file").trim().to_string()
}

/// An admin API call over TCP with the admin token.
fn admin(d: &Daemon, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {}", admin_token(d));
    let body = body.map(|b| b.to_string());
    let reply = d.http(
        method,
        path,
        body.as_deref().map(str::as_bytes),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
    );
    let value = if reply.body.is_empty() { Value::Null } else { reply.json() };
    (reply.status, value)
}

/// Creates a tenant and returns a token for it.
fn tenant(d: &Daemon, name: &str, extra: Value) -> String {
    let mut body = json!({ "name": name });
    if let Value::Object(fields) = extra {
        body.as_object_mut().unwrap().extend(fields);
    }
    let (status, created) = admin(d, "POST", "/kapsel/v1/tenants", Some(body));
    assert_eq!(status, 201, "{created}");
    let (status, token) = admin(d, "POST", &format!("/kapsel/v1/tenants/{name}/tokens"), None);
    assert_eq!(status, 201, "{token}");
    token["token"].as_str().expect("a token").to_string()
}

/// The docker CLI of one tenant: TCP, with its token in config.json's HttpHeaders.
struct TenantCli {
    host: String,
    config: tempfile::TempDir,
}

impl TenantCli {
    fn new(d: &Daemon, token: &str) -> TenantCli {
        let config = tempfile::tempdir().unwrap();
        let headers = json!({ "HttpHeaders": { "Authorization": format!("Bearer {token}") } });
        std::fs::write(config.path().join("config.json"), headers.to_string()).unwrap();
        TenantCli { host: format!("tcp://{}", d.tcp_addr()), config }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CLI_HINTS", "false")
            .output()
            .expect("run docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "docker {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The CLI's error text of a command that must fail.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "docker {} should have failed", args.join(" "));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn test_image() -> PathBuf {
    common::test_image()
}

#[test]
fn two_tenants_see_only_their_own_objects_and_tokens_are_required() {
    if !running_as_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = daemon();
    let acme = TenantCli::new(&d, &tenant(&d, "acme", json!({})));
    let globex_token = tenant(&d, "globex", json!({}));
    let globex = TenantCli::new(&d, &globex_token);
    let image = test_image();
    for cli in [&acme, &globex] {
        cli.ok(&["import", image.to_str().unwrap(), "busybox"]);
        cli.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]);
    }
    let acme_id = acme.ok(&["ps", "-q", "--no-trunc"]).trim().to_string();
    let globex_id = globex.ok(&["ps", "-q", "--no-trunc"]).trim().to_string();
    assert_eq!(acme_id.len(), 64);
    assert_ne!(acme_id, globex_id, "each tenant has its own `web`");
    assert_eq!(acme.ok(&["ps", "--format", "{{.Names}}"]).trim(), "web");

    // Every way of reaching acme's container from globex answers as if it did not exist.
    for args in [
        vec!["logs", acme_id.as_str()],
        vec!["exec", acme_id.as_str(), "true"],
        vec!["stop", acme_id.as_str()],
        vec!["container", "inspect", acme_id.as_str()],
        vec!["stats", "--no-stream", acme_id.as_str()],
    ] {
        let err = globex.fails(&args);
        assert!(err.contains("No such container"), "globex {args:?}: {err}");
    }
    // `rm -f` of a missing container exits 0 by the CLI's convention, but says so.
    let removed = globex.run(&["rm", "-f", &acme_id]);
    assert!(String::from_utf8_lossy(&removed.stderr).contains("No such container"));
    let target = tempfile::tempdir().unwrap();
    let err = globex.fails(&["cp", &format!("{acme_id}:/etc/passwd"), target.path().to_str().unwrap()]);
    assert!(err.contains("No such container"), "{err}");
    assert_eq!(
        acme.ok(&["inspect", "-f", "{{.State.Running}}", "web"]).trim(),
        "true",
        "acme's container is untouched"
    );
    // Images are per tenant too (both imported busybox; the layer is stored once).
    assert_eq!(acme.ok(&["images", "-q"]).lines().count(), 1);

    // No token, a bad token, a revoked token: 401.
    let anonymous = Command::new("docker")
        .args(["-H", &format!("tcp://{}", d.tcp_addr()), "ps"])
        .env("DOCKER_CONFIG", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("authentication required"));
    let reply = d.http("GET", "/containers/json", None, &[("Authorization", "Bearer kps_nonsense")]);
    assert_eq!(reply.status, 401);
    let (_, tokens) = admin(&d, "POST", "/kapsel/v1/tenants/globex/tokens", None);
    let (id, token) = (tokens["id"].as_str().unwrap(), tokens["token"].as_str().unwrap());
    assert_eq!(d.http("GET", "/containers/json", None, &[("Authorization", &format!("Bearer {token}"))]).status, 200);
    assert_eq!(admin(&d, "DELETE", &format!("/kapsel/v1/tokens/{id}"), None).0, 204);
    assert_eq!(d.http("GET", "/containers/json", None, &[("Authorization", &format!("Bearer {token}"))]).status, 401);
    // _ping stays open.
    assert_eq!(d.http("GET", "/_ping", None, &[]).status, 200);

    for cli in [&acme, &globex] {
        cli.ok(&["rm", "-f", "web"]);
    }
}

#[test]
fn quotas_and_defaults_hold_a_tenant() {
    if !running_as_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = daemon();
    let quotas = json!({
        "quotas": { "memory_bytes": 100 * 1024 * 1024, "max_containers": 3 },
        "defaults": { "memory_bytes": 48 * 1024 * 1024, "pids_limit": 64 }
    });
    let token = tenant(&d, "acme", quotas);
    let acme = TenantCli::new(&d, &token);
    acme.ok(&["import", test_image().to_str().unwrap(), "busybox"]);
    acme.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "1000"]);
    // No -m: the tenant's default memory limit, in the container's cgroup too.
    let limits = acme.ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "first"]);
    assert_eq!(limits.trim(), format!("{} 64", 48 * 1024 * 1024));
    let inside = acme.ok(&[
        "exec",
        "first",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(inside.trim(), (48 * 1024 * 1024).to_string());
    // 48 MiB used; another 64 MiB would pass the 100 MiB quota: refused, naming the quota.
    let err = acme.fails(&["create", "-m", "64m", "busybox", "true"]);
    assert!(err.contains("quota memory_bytes exceeded"), "{err}");
    assert!(err.contains(&(100 * 1024 * 1024).to_string()), "the message gives the figures: {err}");
    acme.ok(&["create", "-m", "32m", "--name", "second", "busybox", "true"]);
    // The tenant sees its own quotas and usage.
    let reply = d.http("GET", "/kapsel/v1/tenant", None, &[("Authorization", &format!("Bearer {token}"))]);
    let own = reply.json();
    assert_eq!(own["name"], "acme", "{own}");
    assert_eq!(own["usage"]["containers"], 2, "{own}");
    assert_eq!(own["usage"]["memory_bytes"], (48 + 32) * 1024 * 1024, "{own}");
    acme.ok(&["rm", "-f", "first", "second"]);
}

#[test]
fn tenants_are_confined_where_the_admin_is_not() {
    if !running_as_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = daemon();
    d.import_busybox();
    let acme = TenantCli::new(&d, &tenant(&d, "acme", json!({})));
    acme.ok(&["import", test_image().to_str().unwrap(), "busybox"]);
    for (args, what) in [
        (vec!["run", "--rm", "--privileged", "busybox", "true"], "--privileged"),
        (vec!["run", "--rm", "--network", "host", "busybox", "true"], "--network host"),
        (vec!["run", "--rm", "-v", "/etc:/host-etc", "busybox", "true"], "bind mount"),
        (vec!["run", "--rm", "--pid", "host", "busybox", "true"], "--pid host"),
        (vec!["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "true"], "--cap-add"),
    ] {
        let err = acme.fails(&args);
        assert!(err.contains(what) && err.contains("not allowed for tenants"), "{args:?}: {err}");
    }
    acme.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let err = acme.fails(&["exec", "--privileged", "box", "true"]);
    assert!(err.contains("--privileged is not allowed for tenants"), "{err}");
    acme.ok(&["exec", "box", "true"]);
    acme.ok(&["rm", "-f", "box"]);
    // Volumes stay open to tenants.
    acme.ok(&["run", "--rm", "-v", "data:/data", "busybox", "true"]);
    // The admin (the unix socket) may do what tenants may not.
    d.docker_ok(&["run", "--rm", "--privileged", "busybox", "true"]);
    d.docker_ok(&["run", "--rm", "--network", "host", "busybox", "true"]);
    d.docker_ok(&["run", "--rm", "-v", "/etc:/host-etc:ro", "busybox", "test", "-f", "/host-etc/hostname"]);
}

#[test]
fn the_admin_api_and_command_line_manage_tenants_and_keep_an_audit_log() {
    let d = daemon();
    // The command line over the unix socket.
    let kapsel = env!("CARGO_BIN_EXE_kapsel");
    let host = d.socket_url();
    let out = Command::new(kapsel)
        .args(["tenant", "-H", &host, "create", "initech", "--quotas", r#"{"max_containers": 2}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["quotas"]["max_containers"], 2);
    assert!(created["uid_base"].as_i64().unwrap() >= 100_000);
    let out = Command::new(kapsel).args(["token", "-H", &host, "create", "initech"]).output().unwrap();
    let token: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(token["token"].as_str().unwrap().starts_with("kps_"));
    // A second tenant gets a range that does not overlap.
    let (_, second) = admin(&d, "POST", "/kapsel/v1/tenants", Some(json!({"name": "umbrella"})));
    let (a, b) = (created["uid_base"].as_i64().unwrap(), second["uid_base"].as_i64().unwrap());
    assert!((a - b).abs() >= 65_536, "{a} and {b} overlap");
    // The admin API's shape.
    let (status, list) = admin(&d, "GET", "/kapsel/v1/tenants", None);
    assert_eq!(status, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"initech") && names.contains(&"umbrella"), "{names:?}");
    assert_eq!(admin(&d, "POST", "/kapsel/v1/tenants", Some(json!({"name": "initech"}))).0, 409);
    assert_eq!(admin(&d, "POST", "/kapsel/v1/tenants", Some(json!({"name": "x", "quotas": {"bogus": 1}}))).0, 400);
    // A tenant may not use the admin API.
    let tenant_auth = format!("Bearer {}", token["token"].as_str().unwrap());
    assert_eq!(d.http("GET", "/kapsel/v1/tenants", None, &[("Authorization", &tenant_auth)]).status, 403);
    assert_eq!(admin(&d, "DELETE", "/kapsel/v1/tenants/umbrella", None).0, 204);
    assert_eq!(admin(&d, "DELETE", "/kapsel/v1/tenants/umbrella", None).0, 404);
    // The audit log recorded the mutating calls with their outcome.
    let (status, audit) = admin(&d, "GET", "/kapsel/v1/audit?limit=50", None);
    assert_eq!(status, 200);
    let records = audit.as_array().unwrap();
    let outcome = |action: &str, code: i64| records.iter().any(|r| r["action"] == action && r["status"] == code);
    assert!(outcome("tenant.create", 201) && outcome("tenant.create", 409), "{audit}");
    assert!(outcome("tenant.delete", 204) && outcome("tenant.delete", 404), "{audit}");
    assert!(records.iter().all(|r| r["principal"] == "admin"), "{audit}");
}

#[test]
fn a_tenant_beyond_its_request_rate_gets_429() {
    let d = daemon();
    let token = tenant(&d, "chatty", json!({"quotas": {"requests_per_second": 2}}));
    let auth = format!("Bearer {token}");
    let replies: Vec<_> = (0..12).map(|_| d.http("GET", "/version", None, &[("Authorization", &auth)])).collect();
    let limited = replies.iter().find(|r| r.status == 429).expect("a 429 within a burst of 12 at 2 per second");
    assert!(limited.headers.iter().any(|(k, _)| k == "retry-after"), "Retry-After is sent");
    assert!(replies.iter().filter(|r| r.status == 200).count() >= 4, "the bucket holds two seconds of rate");
}

#[test]
fn browsers_get_cors_headers_for_configured_origins() {
    let d = Daemon::start_with(&["--cors-origin", "http://paas.example"]);
    let reply = d.http(
        "OPTIONS",
        "/containers/json",
        None,
        &[
            ("Origin", "http://paas.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    );
    let header = |name: &str| reply.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("http://paas.example"), "{:?}", reply.headers);
    assert!(header("access-control-allow-headers").is_some_and(|h| h.contains("authorization")));
    let other = d.http(
        "OPTIONS",
        "/containers/json",
        None,
        &[("Origin", "http://evil.example"), ("Access-Control-Request-Method", "GET")],
    );
    assert!(other.headers.iter().all(|(k, _)| k != "access-control-allow-origin"));
}
