//! Images from registries, with the real docker CLI against Debian's `docker-registry` (the
//! distribution registry v2) started on a free loopback port for each test: push, pull with
//! progress, pull by digest, `docker run` of a missing image, "Image is up to date", a
//! corrupted layer, an unknown tag, basic-auth login, multi-platform indexes, and tenants.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, running_as_root, stderr_text, stdout_text, test_image, wait_until};
use serde_json::{Value, json};

/// A registry's HTTP reply: status, headers (names lowercased) and body.
type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// A `docker-registry` on 127.0.0.1 with its storage in a temporary directory; killed and
/// removed on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// An open registry.
    fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that wants HTTP basic credentials `user:password` (htpasswd, bcrypt).
    fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(basic: Option<(&str, &str)>) -> Registry {
        assert!(
            Command::new("docker-registry").arg("--version").output().is_ok_and(|o| o.status.success()),
            "docker-registry is not installed: run scripts/install-test-deps.sh"
        );
        let dir = tempfile::Builder::new().prefix("kapsel-registry-").tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((user, password)) = basic {
            let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed: {}", stderr_text(&out));
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).unwrap();
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: kapsel-test\n    path: {}\n", htpasswd.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, port, dir };
        let up = wait_until(Duration::from_secs(20), || {
            registry.request("GET", "/v2/", &[], None).is_ok_and(|(status, _, _)| status == 200 || status == 401)
        });
        assert!(up, "docker-registry did not answer on port {port}:\n{}", registry.log());
        registry
    }

    /// `127.0.0.1:PORT`.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/NAME`.
    fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry keeps a blob's bytes.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!("storage/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }

    /// One HTTP/1.1 request to the registry: (status, headers lowercased, body).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.host());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.map_or(0, <[u8]>::len)));
        stream.write_all(head.as_bytes())?;
        if let Some(body) = body {
            stream.write_all(body)?;
        }
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut reply_headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                reply_headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut body = Vec::new();
        if method != "HEAD" {
            reader.read_to_end(&mut body)?;
        }
        Ok((status, reply_headers, body))
    }

    /// A manifest as the registry serves it: (digest, size, parsed).
    fn manifest(&self, repository: &str, reference: &str) -> (String, usize, Value) {
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let (status, headers, body) = self
            .request("GET", &format!("/v2/{repository}/manifests/{reference}"), &[("Accept", accept)], None)
            .unwrap();
        assert_eq!(status, 200, "GET manifest {repository}:{reference}: {}", String::from_utf8_lossy(&body));
        let digest = headers.iter().find(|(k, _)| k == "docker-content-digest").map(|(_, v)| v.clone()).unwrap();
        (digest, body.len(), serde_json::from_slice(&body).unwrap())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `docker import <test image> NAME` (optionally for a platform), returning the image ID.
fn import(d: &Daemon, name: &str, platform: Option<&str>) -> String {
    let image = test_image();
    let mut args = vec!["import"];
    if let Some(platform) = platform {
        args.extend(["--platform", platform]);
    }
    args.extend([image.to_str().unwrap(), name]);
    d.docker_ok(&args).trim().to_string()
}

/// `docker push NAME`, asserting success; returns stdout.
fn push(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["push", name])
}

/// The `TAG: digest: sha256:… size: N` digest of push output.
fn pushed_digest(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.split_once(": digest: ").map(|(_, rest)| rest.split_whitespace().next().unwrap().to_string()))
        .unwrap_or_else(|| panic!("no digest line in push output:\n{output}"))
}

/// Imports the test image as `REGISTRY/busybox:latest` into `d` and pushes it; returns (image
/// id, manifest digest).
fn seed(d: &Daemon, registry: &Registry) -> (String, String) {
    let name = format!("{}:latest", registry.image("busybox"));
    let id = import(d, &name, None);
    let out = push(d, &name);
    (id, pushed_digest(&out))
}

/// Files under a directory, recursively (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.push(path.clone());
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Go's name for this machine's architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test platform pair for {other}"),
    }
}

#[test]
fn push_then_pull_with_progress_and_up_to_date_again() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    let name = format!("{}:latest", registry.image("busybox"));
    let id = import(&d1, &name, None);

    let first = push(&d1, &name);
    assert!(first.contains(&format!("The push refers to repository [{}]", registry.image("busybox"))), "{first}");
    assert!(first.contains(": Preparing") && first.contains(": Pushed"), "{first}");
    let digest = pushed_digest(&first);
    assert!(first.contains(&format!("latest: digest: {digest} size: ")), "{first}");
    // A second push skips the layer and sends the same manifest: the compressed layer is kept.
    let second = push(&d1, &name);
    assert!(second.contains(": Layer already exists"), "{second}");
    assert_eq!(pushed_digest(&second), digest, "{second}");
    let repo_digests = d1.inspect(&name, "{{json .RepoDigests}}");
    assert!(repo_digests.contains(&format!("{}@{digest}", registry.image("busybox"))), "{repo_digests}");
    // The push's aux message, as the API sends it.
    let reply = d1.http(
        "POST",
        &format!("/v1.50/images/{}/push?tag=latest", registry.image("busybox")),
        None,
        &[("X-Registry-Auth", "e30=")],
    );
    let messages = reply.json_lines();
    assert!(
        messages.iter().any(|m| m["aux"]["Digest"] == digest.as_str() && m["aux"]["Tag"] == "latest"),
        "{messages:?}"
    );

    // A daemon that never saw the image pulls it; the raw stream has dockerd's shapes.
    let d2 = Daemon::start();
    let reply = d2.http(
        "POST",
        &format!("/v1.50/images/create?fromImage={}&tag=latest", registry.image("busybox")),
        None,
        &[("X-Registry-Auth", "e30=")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let text = reply.text();
    assert!(text.contains("}\r\n{"), "messages are not \\r\\n-separated: {text:?}");
    let messages = reply.json_lines();
    assert_eq!(messages[0], json!({"status": "Pulling from busybox", "id": "latest"}), "{text}");
    let layer_id = messages[1]["id"].as_str().unwrap().to_string();
    assert_eq!(messages[1], json!({"status": "Pulling fs layer", "progressDetail": {}, "id": layer_id}));
    let downloading = messages.iter().find(|m| m["status"] == "Downloading").expect("a Downloading message");
    assert!(downloading["progressDetail"]["current"].as_u64().unwrap() > 0, "{downloading}");
    assert!(downloading["progressDetail"]["total"].as_u64().unwrap() > 0, "{downloading}");
    for status in ["Verifying Checksum", "Download complete", "Extracting", "Pull complete"] {
        assert!(messages.iter().any(|m| m["status"] == status && m["id"] == layer_id.as_str()), "no {status}: {text}");
    }
    let statuses: Vec<&str> = messages.iter().filter_map(|m| m["status"].as_str()).collect();
    assert_eq!(statuses[statuses.len() - 2], format!("Digest: {digest}"));
    assert_eq!(statuses[statuses.len() - 1], format!("Status: Downloaded newer image for {name}"));
    assert_eq!(d2.inspect(&name, "{{.Id}}"), id, "the pulled image is the pushed one");

    // The CLI pull of an image that is there is near-instant and says so.
    let started = Instant::now();
    let again = d2.docker_ok(&["pull", &name]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(again.contains("latest: Pulling from busybox"), "{again}");
    assert!(again.contains(&format!("Digest: {digest}")), "{again}");
    assert!(again.contains(&format!("Status: Image is up to date for {name}")), "{again}");
    assert!(!again.contains("Pull complete"), "{again}");

    // And after rmi, the CLI pull shows the layer lines and succeeds.
    d2.docker_ok(&["rmi", &name]);
    let pulled = d2.docker_ok(&["pull", &name]);
    assert!(pulled.contains(": Pull complete"), "{pulled}");
    assert!(pulled.contains(&format!("Status: Downloaded newer image for {name}")), "{pulled}");
    // `--until 0s` is now, in whole seconds: let the pull's second pass first.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let events = d2.docker_ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--filter",
        "event=pull",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert!(events.lines().any(|l| l == format!("pull {name}")), "{events}");
}

#[test]
fn run_pulls_a_missing_image_and_unknown_tags_are_manifest_unknown() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    seed(&d1, &registry);
    let d2 = Daemon::start();

    let unknown = format!("{}:nope", registry.image("busybox"));
    let out = d2.docker(&["pull", &unknown]);
    d2.assert_exit("docker pull of an unknown tag", &out, 1);
    let expected = format!("manifest for {unknown} not found: manifest unknown");
    assert!(stderr_text(&out).contains(&expected), "{}", stderr_text(&out));
    let out = d2.docker(&["pull", &registry.image("nothing-here")]);
    d2.assert_exit("docker pull of an unknown repository", &out, 1);
    assert!(stderr_text(&out).contains("unknown"), "{}", stderr_text(&out));

    if !running_as_root() {
        return;
    }
    let name = format!("{}:latest", registry.image("busybox"));
    let out = d2.docker(&["run", "--rm", &name, "echo", "pulled-and-ran"]);
    d2.assert_success("docker run of a missing image", &out);
    assert_eq!(stdout_text(&out).trim(), "pulled-and-ran");
    let err = stderr_text(&out);
    assert!(err.contains(&format!("Unable to find image '{name}' locally")), "{err}");
    assert!(err.contains("Status: Downloaded newer image"), "{err}");
    let out = d2.docker(&["run", "--rm", &unknown, "true"]);
    d2.assert_exit("docker run of an unknown tag", &out, 125);
    assert!(stderr_text(&out).contains(&expected), "{}", stderr_text(&out));
}

#[test]
fn pull_by_digest() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    let (id, digest) = seed(&d1, &registry);
    let d2 = Daemon::start();
    let by_digest = format!("{}@{digest}", registry.image("busybox"));
    let out = d2.docker_ok(&["pull", &by_digest]);
    assert!(out.contains(&format!("{digest}: Pulling from busybox")), "{out}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {by_digest}")), "{out}");
    assert_eq!(d2.inspect(&by_digest, "{{.Id}}"), id);
    assert_eq!(d2.inspect(&by_digest, "{{json .RepoDigests}}"), format!("[\"{by_digest}\"]"));
    assert_eq!(d2.inspect(&by_digest, "{{json .RepoTags}}"), "[]");
    let table = d2.docker_ok(&["images", "--digests", "--format", "{{.Repository}} {{.Digest}}"]);
    assert!(table.contains(&format!("{} {digest}", registry.image("busybox"))), "{table}");
    let again = d2.docker_ok(&["pull", &by_digest]);
    assert!(again.contains("Image is up to date"), "{again}");

    // A digest that does not match the content is refused.
    let wrong = format!("{}@sha256:{}", registry.image("busybox"), "0".repeat(64));
    let out = d2.docker(&["pull", &wrong]);
    assert!(!out.status.success(), "pulling a digest the registry lacks succeeded");
    if running_as_root() {
        let out = d2.docker(&["run", "--rm", &by_digest, "echo", "by-digest"]);
        d2.assert_success("docker run by digest", &out);
        assert_eq!(stdout_text(&out).trim(), "by-digest");
    }
}

#[test]
fn a_corrupted_layer_fails_the_pull_and_leaves_nothing() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    seed(&d1, &registry);
    let (_, _, manifest) = registry.manifest("busybox", "latest");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_string();
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    std::fs::write(&blob, &bytes).unwrap();

    let d2 = Daemon::start();
    let name = format!("{}:latest", registry.image("busybox"));
    let out = d2.docker(&["pull", &name]);
    d2.assert_exit("docker pull of a corrupted layer", &out, 1);
    let all = format!("{}{}", stdout_text(&out), stderr_text(&out));
    assert!(all.contains(&format!("filesystem layer verification failed for digest {layer}")), "{all}");
    assert_eq!(d2.docker_ok(&["images", "-aq"]).trim(), "", "a partial image was left");
    for dir in ["layers/sha256", "blobs/sha256", "compressed/sha256", "tmp"] {
        let left = files_under(&d2.data_root().join(dir));
        assert!(left.is_empty(), "{dir} is not empty after a failed pull: {left:?}");
    }
    // The API reports it in-stream, as dockerd does.
    let reply =
        d2.http("POST", &format!("/v1.50/images/create?fromImage={}&tag=latest", registry.image("busybox")), None, &[]);
    let last = reply.json_lines().pop().unwrap();
    assert!(last["errorDetail"]["message"].as_str().unwrap().contains("verification failed"), "{last}");
    assert_eq!(last["error"], last["errorDetail"]["message"]);
}

#[test]
fn basic_auth_login_then_pull_and_push() {
    let registry = Registry::with_basic_auth("alice", "s3cret-Pa55");
    let d1 = Daemon::start();
    let name = format!("{}:v1", registry.image("private"));
    import(&d1, &name, None);
    let out = d1.docker(&["push", &name]);
    d1.assert_exit("docker push without login", &out, 1);
    assert!(format!("{}{}", stdout_text(&out), stderr_text(&out)).contains("no basic auth credentials"), "{out:?}");

    let out = d1.docker_stdin(&["login", "-u", "alice", "--password-stdin", &registry.host()], b"wrong\n");
    d1.assert_exit("docker login with a wrong password", &out, 1);
    assert!(stderr_text(&out).contains("401 Unauthorized"), "{}", stderr_text(&out));
    let out = d1.docker_stdin(&["login", "-u", "alice", "--password-stdin", &registry.host()], b"s3cret-Pa55\n");
    d1.assert_success("docker login", &out);
    assert!(stdout_text(&out).contains("Login Succeeded"), "{}", stdout_text(&out));
    let reply = d1.http(
        "POST",
        "/v1.50/auth",
        Some(
            json!({"username": "alice", "password": "s3cret-Pa55", "serveraddress": registry.host()})
                .to_string()
                .as_bytes(),
        ),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(reply.json(), json!({"Status": "Login Succeeded", "IdentityToken": ""}));
    push(&d1, &name);

    let d2 = Daemon::start();
    let out = d2.docker(&["pull", &name]);
    d2.assert_exit("docker pull without login", &out, 1);
    assert!(stderr_text(&out).contains("no basic auth credentials"), "{}", stderr_text(&out));
    let out = d2.docker_stdin(&["login", "-u", "alice", "--password-stdin", &registry.host()], b"s3cret-Pa55\n");
    d2.assert_success("docker login", &out);
    let pulled = d2.docker_ok(&["pull", &name]);
    assert!(pulled.contains(&format!("Status: Downloaded newer image for {name}")), "{pulled}");

    // The daemons kept no credentials: the password is nowhere under their data roots.
    for d in [&d1, &d2] {
        for file in files_under(d.data_root()) {
            if file.is_file() && !file.ends_with("kapsel.sock") {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(
                    !bytes.windows(b"s3cret-Pa55".len()).any(|w| w == b"s3cret-Pa55"),
                    "the password is stored in {}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn a_multi_platform_index_pulls_the_host_platform() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    let other = if host_arch() == "amd64" { "arm64" } else { "amd64" };
    let mut entries = Vec::new();
    for arch in [other, host_arch()] {
        let name = format!("{}:{arch}", registry.image("multi"));
        import(&d1, &name, Some(&format!("linux/{arch}")));
        push(&d1, &name);
        let (digest, size, manifest) = registry.manifest("multi", arch);
        entries.push(json!({
            "mediaType": manifest["mediaType"], "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let (status, _, body) = registry
        .request(
            "PUT",
            "/v2/multi/manifests/latest",
            &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
            Some(index.to_string().as_bytes()),
        )
        .unwrap();
    assert_eq!(status, 201, "PUT index: {}", String::from_utf8_lossy(&body));
    let (index_digest, _, _) = registry.manifest("multi", "latest");

    let d2 = Daemon::start();
    let name = format!("{}:latest", registry.image("multi"));
    let out = d2.docker_ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    assert_eq!(d2.inspect(&name, "{{.Architecture}}"), host_arch());
    assert_eq!(d2.inspect(&name, "{{json .RepoDigests}}"), format!("[\"{}@{index_digest}\"]", registry.image("multi")));
    d2.docker_ok(&["pull", "--platform", &format!("linux/{other}"), &name]);
    assert_eq!(d2.inspect(&name, "{{.Architecture}}"), other);
    let out = d2.docker(&["pull", "--platform", "linux/s390x", &name]);
    d2.assert_exit("docker pull of a platform the index lacks", &out, 1);
    assert!(stderr_text(&out).contains("no matching manifest for linux/s390x"), "{}", stderr_text(&out));
}

#[test]
fn pulled_images_belong_to_the_pulling_tenant() {
    let registry = Registry::start();
    let seeder = Daemon::start();
    let (id, _) = seed(&seeder, &registry);

    let d = Daemon::start_with(&[]);
    let admin = std::fs::read_to_string(d.data_root().join("admin-token")).unwrap().trim().to_string();
    let token = |tenant: &str| -> String {
        let auth = format!("Bearer {admin}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let body = json!({"name": tenant}).to_string();
        let created = d.http("POST", "/kapsel/v1/tenants", Some(body.as_bytes()), &headers);
        assert_eq!(created.status, 201, "{}", created.text());
        let token = d.http("POST", &format!("/kapsel/v1/tenants/{tenant}/tokens"), None, &headers);
        assert_eq!(token.status, 201, "{}", token.text());
        token.json()["token"].as_str().unwrap().to_string()
    };
    let (alpha, beta) = (format!("Bearer {}", token("alpha")), format!("Bearer {}", token("beta")));
    let pull = |auth: &str| {
        let path = format!("/v1.50/images/create?fromImage={}&tag=latest", registry.image("busybox"));
        let reply = d.http("POST", &path, None, &[("Authorization", auth), ("X-Registry-Auth", "e30=")]);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json_lines()
    };
    let ids = |auth: &str| -> Vec<String> {
        let reply = d.http("GET", "/v1.50/images/json", None, &[("Authorization", auth)]);
        reply.json().as_array().unwrap().iter().map(|i| i["Id"].as_str().unwrap().to_string()).collect()
    };
    pull(&alpha);
    assert_eq!(ids(&alpha), vec![id.clone()]);
    assert!(ids(&beta).is_empty(), "another tenant sees the pulled image");
    assert!(d.docker_ok(&["images", "-q"]).trim().is_empty(), "the default tenant sees the pulled image");
    // Beta downloads the layer itself: another tenant's copy is never handed out unverified.
    let messages = pull(&beta);
    assert!(messages.iter().any(|m| m["status"] == "Pulling fs layer"), "{messages:?}");
    assert!(!messages.iter().any(|m| m["status"] == "Already exists"), "{messages:?}");
    assert_eq!(ids(&beta), vec![id]);
    // Without the TCP listener's token there is no pull at all.
    let reply =
        d.http("POST", &format!("/v1.50/images/create?fromImage={}&tag=latest", registry.image("busybox")), None, &[]);
    assert_eq!(reply.status, 401);
}

#[test]
fn docker_hub_pulls_go_through_a_mirror_and_pushes_mount_across_repositories() {
    let registry = Registry::start();
    let d1 = Daemon::start();
    let hub_name = format!("{}:latest", registry.image("library/busybox"));
    let id = import(&d1, &hub_name, None);
    push(&d1, &hub_name);

    // docker.io/library/busybox comes from the mirror (Docker Hub itself is out of reach).
    let mirror = format!("http://{}", registry.host());
    let d2 = Daemon::start_with(&["--insecure-no-auth", "--registry-mirror", &mirror]);
    let out = d2.docker_ok(&["pull", "busybox"]);
    assert!(out.contains("latest: Pulling from library/busybox"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for busybox:latest"), "{out}");
    assert_eq!(d2.inspect("busybox", "{{.Id}}"), id);

    // A layer pulled from one repository of a registry is mounted, not uploaded, into another.
    let copy = format!("{}:latest", registry.image("copy"));
    d2.docker_ok(&["tag", "busybox", &copy]);
    let pulled = Daemon::start();
    let from_registry = format!("{}:latest", registry.image("library/busybox"));
    pulled.docker_ok(&["pull", &from_registry]);
    pulled.docker_ok(&["tag", &from_registry, &copy]);
    let out = push(&pulled, &copy);
    assert!(out.contains(": Mounted from library/busybox"), "{out}");
    let (_, _, manifest) = registry.manifest("copy", "latest");
    let (_, _, original) = registry.manifest("library/busybox", "latest");
    assert_eq!(manifest["layers"], original["layers"], "the pushed-back layer is the pulled blob");
}

/// Uploads a blob to the registry (`POST` an upload, then one `PUT` with the bytes); returns
/// its digest.
fn upload_blob(registry: &Registry, repository: &str, bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let (status, headers, body) =
        registry.request("POST", &format!("/v2/{repository}/blobs/uploads/"), &[], None).unwrap();
    assert_eq!(status, 202, "start upload: {}", String::from_utf8_lossy(&body));
    let location = headers.iter().find(|(k, _)| k == "location").map(|(_, v)| v.clone()).unwrap();
    let path = location.split_once(&registry.host()).map_or(location.as_str(), |(_, p)| p).to_string();
    let separator = if path.contains('?') { '&' } else { '?' };
    let (status, _, body) = registry
        .request(
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
        )
        .unwrap();
    assert_eq!(status, 201, "finish upload: {}", String::from_utf8_lossy(&body));
    digest
}

#[test]
fn oci_manifests_with_zstd_layers_pull_and_push_back() {
    use sha2::Digest;
    let registry = Registry::start();
    let tar = std::fs::read(test_image()).unwrap();
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)));
    let zstd = zstd::encode_all(&tar[..], 3).unwrap();
    let layer = upload_blob(&registry, "zstd", &zstd);
    let config = json!({
        "architecture": host_arch(), "os": "linux", "created": "2025-01-01T00:00:00Z",
        "config": {"Cmd": ["echo", "from-zstd"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    let config_digest = upload_blob(&registry, "zstd", config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": layer, "size": zstd.len()}],
    });
    let (status, _, body) = registry
        .request(
            "PUT",
            "/v2/zstd/manifests/v1",
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            Some(manifest.to_string().as_bytes()),
        )
        .unwrap();
    assert_eq!(status, 201, "PUT manifest: {}", String::from_utf8_lossy(&body));

    let d = Daemon::start();
    let name = format!("{}:v1", registry.image("zstd"));
    let out = d.docker_ok(&["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(d.inspect(&name, "{{.Id}}"), config_digest, "the image id is the config's digest");
    assert_eq!(d.inspect(&name, "{{json .RootFS.Layers}}"), format!("[\"{diff_id}\"]"));
    if running_as_root() {
        let out = d.docker(&["run", "--rm", &name]);
        d.assert_success("docker run of the zstd image", &out);
        assert_eq!(stdout_text(&out).trim(), "from-zstd");
    }
    // Pushed elsewhere, the zstd blob goes back as is, in an OCI manifest.
    let copy = format!("{}:v1", registry.image("zstd-copy"));
    d.docker_ok(&["tag", &name, &copy]);
    push(&d, &copy);
    let (_, _, pushed) = registry.manifest("zstd-copy", "v1");
    assert_eq!(pushed["mediaType"], "application/vnd.oci.image.manifest.v1+json", "{pushed}");
    assert_eq!(pushed["layers"][0]["digest"], layer.as_str(), "{pushed}");
    assert_eq!(pushed["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd", "{pushed}");
}
