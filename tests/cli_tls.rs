//! TLS on the TCP listener, driven with the real docker CLI (`--tlsverify`, or
//! `DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH`) and curl: client certificates
//! are required and name the caller (CN `kapsel-admin`: the admin; CN = a
//! tenant's name: that tenant), plain HTTP and clients without a
//! certificate are refused, and hijacked attach/exec streams work over TLS.
//! The certificates are made here with rcgen.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Daemon, running_as_root, stderr_text, stdout_text};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A test CA with a server certificate for 127.0.0.1, and client
/// certificates in directories laid out as DOCKER_CERT_PATH wants them.
struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA (`ca.pem`) and the server's `server-cert.pem` and
    /// `server-key.pem`.
    fn new() -> Pki {
        let dir = tempfile::Builder::new().prefix("kapsel-tls-").tempdir().expect("create the certificate dir");
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "kapsel test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let pki = Pki { dir, issuer: Issuer::new(params, key) };
        let (cert, key) = pki.issue(&["127.0.0.1", "localhost"], "kapsel", ExtendedKeyUsagePurpose::ServerAuth);
        std::fs::write(pki.path("server-cert.pem"), cert).unwrap();
        std::fs::write(pki.path("server-key.pem"), key).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A certificate and its key (both PEM) signed by this CA.
    fn issue(&self, names: &[&str], common_name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A directory with `ca.pem`, `cert.pem` and `key.pem`: a client
    /// certificate with this common name.
    fn client(&self, common_name: &str) -> PathBuf {
        let dir = self.path(common_name);
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self.issue(&[], common_name, ExtendedKeyUsagePurpose::ClientAuth);
        std::fs::copy(self.path("ca.pem"), dir.join("ca.pem")).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        dir
    }

    /// `kapsel serve` flags for a TLS listener (`--tls` or `--tlsverify`).
    fn flags(&self, mode: &str) -> Vec<String> {
        let mut flags = vec![mode.to_string()];
        if mode == "--tlsverify" {
            flags.extend(["--tlscacert".to_string(), self.path("ca.pem").display().to_string()]);
        }
        flags.extend(["--tlscert".to_string(), self.path("server-cert.pem").display().to_string()]);
        flags.extend(["--tlskey".to_string(), self.path("server-key.pem").display().to_string()]);
        flags
    }
}

/// A daemon whose TCP listener speaks TLS with these flags.
fn tls_daemon(pki: &Pki, mode: &str, more: &[&str]) -> Daemon {
    let flags = pki.flags(mode);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(more);
    Daemon::start_with(&args)
}

/// `docker ARGS` over the TLS listener with DOCKER_TLS_VERIFY=1 and
/// DOCKER_CERT_PATH=certs, as a user sets it up.
fn docker_tls(d: &Daemon, certs: &Path, args: &[&str]) -> Output {
    let host = format!("tcp://{}", d.tcp_addr());
    let certs = certs.display().to_string();
    d.docker_env_args(&[("DOCKER_HOST", &host), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &certs)], args)
}

/// `docker_tls`, asserting success; its stdout.
fn docker_tls_ok(d: &Daemon, certs: &Path, args: &[&str]) -> String {
    let out = docker_tls(d, certs, args);
    d.assert_success(&format!("docker (TLS, {}) {}", certs.display(), args.join(" ")), &out);
    stdout_text(&out)
}

/// `curl -sS ARGS`; its output.
fn curl(args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.arg("-sS").args(args);
    common::run(cmd, None)
}

/// `kapsel tenant create NAME` over the unix socket.
fn create_tenant(d: &Daemon, name: &str) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kapsel"));
    cmd.args(["tenant", "-H", &d.socket_url(), "create", name]).env_remove("KAPSEL_TOKEN");
    let out = common::run(cmd, None);
    d.assert_success(&format!("kapsel tenant create {name}"), &out);
}

#[test]
fn tlsverify_serves_docker_with_client_certificates() {
    let pki = Pki::new();
    let d = tls_daemon(&pki, "--tlsverify", &[]);
    let admin = pki.client("kapsel-admin");
    let host = format!("tcp://{}", d.tcp_addr());

    // The flags form, as in dockerd's documentation.
    let cert = |name: &str| admin.join(name).display().to_string();
    let (ca, cert_pem, key) = (cert("ca.pem"), cert("cert.pem"), cert("key.pem"));
    let version = d.docker_ok(&[
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert_pem,
        "--tlskey",
        &key,
        "-H",
        &host,
        "version",
        "--format",
        "{{.Server.Version}}",
    ]);
    assert!(!version.trim().is_empty(), "no server version over TLS: {version:?}");
    // The environment form.
    let name = docker_tls_ok(&d, &admin, &["info", "--format", "{{.Name}}"]);
    assert!(!name.trim().is_empty(), "docker info over TLS printed {name:?}");

    // Plain HTTP on the TLS port: dockerd's 400.
    let port_url = |scheme: &str| format!("{scheme}://127.0.0.1:{}/_ping", d.tcp_addr().port());
    let out = curl(&["-w", "\n%{http_code}", &port_url("http")]);
    let text = stdout_text(&out);
    assert!(
        text.contains("Client sent an HTTP request to an HTTPS server") && text.ends_with("\n400"),
        "plain HTTP on the TLS port was answered {text:?} ({})",
        stderr_text(&out)
    );
    // No client certificate, or one from another CA: the handshake fails.
    let out = curl(&["--cacert", &ca, &port_url("https")]);
    assert!(!out.status.success(), "a client without a certificate was served: {}", stdout_text(&out));
    let out = d.docker(&["--tlsverify", "--tlscacert", &ca, "-H", &host, "version"]);
    assert!(!out.status.success(), "docker without a client certificate was served: {}", stdout_text(&out));
    let other = Pki::new().client("kapsel-admin");
    let (other_cert, other_key) = (other.join("cert.pem"), other.join("key.pem"));
    let out = curl(&[
        "--cacert",
        &ca,
        "--cert",
        other_cert.to_str().unwrap(),
        "--key",
        other_key.to_str().unwrap(),
        &port_url("https"),
    ]);
    assert!(!out.status.success(), "a certificate of another CA was accepted: {}", stdout_text(&out));
    // A verified certificate whose CN names nobody: /_ping only.
    let stranger = pki.client("stranger");
    let out = curl(&[
        "--cacert",
        &ca,
        "--cert",
        stranger.join("cert.pem").to_str().unwrap(),
        "--key",
        stranger.join("key.pem").to_str().unwrap(),
        &port_url("https"),
    ]);
    assert_eq!(stdout_text(&out), "OK", "GET /_ping with a stranger's certificate: {}", stderr_text(&out));
    let out = docker_tls(&d, &stranger, &["ps"]);
    assert!(
        !out.status.success() && stderr_text(&out).contains("names no tenant"),
        "a certificate naming no tenant got {}: {}{}",
        out.status,
        stdout_text(&out),
        stderr_text(&out)
    );
}

#[test]
fn a_client_certificate_names_a_tenant() {
    let pki = Pki::new();
    let d = tls_daemon(&pki, "--tlsverify", &[]);
    create_tenant(&d, "acme");
    let (admin, acme) = (pki.client("kapsel-admin"), pki.client("acme"));
    d.docker_ok(&["volume", "create", "adminvol"]);
    docker_tls_ok(&d, &acme, &["volume", "create", "acmevol"]);

    let acme_sees = docker_tls_ok(&d, &acme, &["volume", "ls", "-q"]);
    assert_eq!(acme_sees.split_whitespace().collect::<Vec<_>>(), ["acmevol"], "acme's volumes over TLS");
    let admin_sees = docker_tls_ok(&d, &admin, &["volume", "ls", "-q"]);
    assert_eq!(admin_sees.split_whitespace().collect::<Vec<_>>(), ["adminvol"], "the admin's volumes over TLS");
    // The tenant's certificate is not the admin's: the admin API is closed to it.
    let host = format!("tcp://{}", d.tcp_addr());
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        acme.join("ca.pem").to_str().unwrap(),
        "--cert",
        acme.join("cert.pem").to_str().unwrap(),
        "--key",
        acme.join("key.pem").to_str().unwrap(),
        &format!("{}/kapsel/v1/tenants", host.replace("tcp://", "https://")),
    ]);
    assert_eq!(stdout_text(&out), "403", "acme listed the tenants: {}", stderr_text(&out));
}

#[test]
fn containers_attach_and_exec_over_tls() {
    if !running_as_root() {
        return;
    }
    let pki = Pki::new();
    let d = tls_daemon(&pki, "--tlsverify", &[]);
    create_tenant(&d, "acme");
    let (admin, acme) = (pki.client("kapsel-admin"), pki.client("acme"));
    d.import_busybox();

    let out = docker_tls_ok(&d, &admin, &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(out, "hi\n", "docker run --rm over TLS");
    // stdin through the hijacked stream.
    let mut cmd = Command::new("docker");
    d.docker_env(&mut cmd);
    cmd.env("DOCKER_HOST", format!("tcp://{}", d.tcp_addr()))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &admin)
        .args(["run", "--rm", "-i", "busybox", "cat"]);
    let out = common::run(cmd, Some(b"through tls\n"));
    d.assert_success("docker run -i busybox cat (TLS)", &out);
    assert_eq!(stdout_text(&out), "through tls\n");

    docker_tls_ok(&d, &admin, &["run", "-d", "--name", "web", "busybox", "sleep", "60"]);
    let out = docker_tls_ok(&d, &admin, &["exec", "web", "echo", "there"]);
    assert_eq!(out, "there\n", "docker exec over TLS");
    let acme_sees = docker_tls_ok(&d, &acme, &["ps", "-a", "-q"]);
    assert_eq!(acme_sees.trim(), "", "acme sees the admin's containers");
    let admin_sees = docker_tls_ok(&d, &admin, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(admin_sees.trim(), "web");
    docker_tls_ok(&d, &admin, &["rm", "-f", "web"]);
}

#[test]
fn tls_without_client_verification() {
    let pki = Pki::new();
    let mut d = tls_daemon(&pki, "--tls", &["--insecure-no-auth"]);
    let host = format!("tcp://{}", d.tcp_addr());
    let ca = pki.path("ca.pem").display().to_string();
    // The client checks the server's certificate and sends none of its own.
    let version =
        d.docker_ok(&["--tlsverify", "--tlscacert", &ca, "-H", &host, "version", "--format", "{{.Server.Os}}"]);
    assert_eq!(version.trim(), "linux");
    let out = curl(&["-w", "\n%{http_code}", &format!("http://{}/_ping", d.tcp_addr())]);
    assert!(stdout_text(&out).ends_with("\n400"), "plain HTTP on the TLS port: {}", stdout_text(&out));
    // A clean stop, even with a client that connected and never said hello.
    let _silent = std::net::TcpStream::connect(d.tcp_addr()).unwrap();
    d.stop();
}

#[test]
fn incomplete_or_broken_tls_flags_stop_the_daemon() {
    let pki = Pki::new();
    let root = tempfile::tempdir().unwrap();
    let serve = |flags: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kapsel"));
        cmd.arg("serve")
            .arg("--data-root")
            .arg(root.path())
            .args(["-H", "tcp://127.0.0.1:0"])
            .args(flags)
            .env_remove("KAPSEL_HOST")
            .env_remove("KAPSEL_DATA_ROOT");
        let out = common::run(cmd, None);
        assert!(!out.status.success(), "kapsel serve {flags:?} started");
        stderr_text(&out)
    };
    let (cert, key, ca) = (pki.path("server-cert.pem"), pki.path("server-key.pem"), pki.path("ca.pem"));
    let (cert, key, ca) = (cert.to_str().unwrap(), key.to_str().unwrap(), ca.to_str().unwrap());
    let err = serve(&["--tlsverify", "--tlscert", cert, "--tlskey", key]);
    assert!(err.contains("--tlsverify needs --tlscacert"), "{err}");
    let err = serve(&["--tls", "--tlscert", "/nonexistent/cert.pem", "--tlskey", key]);
    assert!(err.contains("--tlscert /nonexistent/cert.pem"), "{err}");
    let err = serve(&["--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", ca]);
    assert!(err.contains("--tlskey"), "{err}");
    let err = serve(&["--tlscert", cert]);
    assert!(err.contains("add --tls or --tlsverify"), "{err}");
}
