//! Per-tenant user namespaces, driven with the docker CLI as a tenant (a bearer token in the
//! CLI's `HttpHeaders`, over the daemon's TCP listener) and as the admin (the unix socket):
//! container root is uid 0 inside and the first uid of the tenant's range on the host, ranges
//! of different tenants do not overlap, the image's files are root's inside, and the admin's
//! containers keep the host's user namespace. Once with idmapped layers (this kernel supports
//! them) and once with the shifted-copy fallback (`--userns-idmap off`).
//!
//! These tests need root (namespaces, cgroups, mounts); they skip with a note otherwise.

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Daemon, run, running_as_root, stderr_text, stdout_text, tail, test_image};

/// How many ids each tenant's range holds.
const RANGE: u32 = 65_536;

fn skip() -> bool {
    if !running_as_root() {
        eprintln!("skipped: user namespaces need root");
        return true;
    }
    false
}

/// A tenant with its token, driving the docker CLI; removes its containers when dropped (the
/// harness only cleans up the admin's).
struct Tenant<'a> {
    daemon: &'a Daemon,
    name: String,
    base: u32,
    config: PathBuf,
}

impl<'a> Tenant<'a> {
    /// Creates the tenant over the admin API and writes a DOCKER_CONFIG that sends its token.
    fn create(daemon: &'a Daemon, name: &str) -> Tenant<'a> {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let created =
            daemon.http("POST", "/kapsel/v1/tenants", Some(body.as_bytes()), &[("Content-Type", "application/json")]);
        assert_eq!(created.status, 201, "creating tenant {name}: {}", created.text());
        let base = created.json()["uid_base"].as_u64().expect("the tenant has a uid base") as u32;
        let issued = daemon.http("POST", &format!("/kapsel/v1/tenants/{name}/tokens"), None, &[]);
        assert!(issued.status == 200 || issued.status == 201, "issuing a token: {}", issued.text());
        let token = issued.json()["token"].as_str().expect("a token").to_string();
        let config = daemon.scratch_dir().join(format!("docker-config-{name}"));
        std::fs::create_dir_all(&config).unwrap();
        let headers = serde_json::json!({ "HttpHeaders": { "Authorization": format!("Bearer {token}") } });
        std::fs::write(config.join("config.json"), headers.to_string()).unwrap();
        Tenant { daemon, name: name.to_string(), base, config }
    }

    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", format!("tcp://{}", self.daemon.tcp_addr()))
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env("DOCKER_CLI_HINTS", "false");
        run(cmd, None)
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "tenant {}: `docker {}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- daemon log (tail) ---\n{}",
            self.name,
            args.join(" "),
            out.status,
            stdout_text(&out),
            stderr_text(&out),
            tail(&self.daemon.log(), 60)
        );
        stdout_text(&out)
    }

    /// The mapping line every container of this tenant shows in /proc/self/uid_map.
    fn uid_map(&self) -> Vec<u64> {
        vec![0, u64::from(self.base), u64::from(RANGE)]
    }
}

impl Drop for Tenant<'_> {
    fn drop(&mut self) {
        let out = self.docker(&["ps", "-aq"]);
        let ids = stdout_text(&out);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
    }
}

/// The numbers of a uid_map/gid_map text.
fn map_numbers(text: &str) -> Vec<u64> {
    text.split_whitespace().map(|w| w.parse().expect("a number in the id map")).collect()
}

/// `Uid:` (real, effective, saved, fs) of a host process.
fn host_uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read the process's status");
    let line = status.lines().find(|l| l.starts_with("Uid:")).expect("a Uid line");
    line.split_whitespace().skip(1).map(|w| w.parse().unwrap()).collect()
}

/// Host pids of the processes in `container_pid`'s PID namespace whose command line is `cmdline`.
fn processes_beside(container_pid: u32, cmdline: &[u8]) -> Vec<u32> {
    let ns = std::fs::read_link(format!("/proc/{container_pid}/ns/pid")).expect("the container's pid namespace");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == container_pid || std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline) {
            found.push(pid);
        }
    }
    found
}

/// (uid, gid) of every entry of a tar stream, by name.
fn tar_owners(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut archive = tar::Archive::new(bytes);
    let mut owners = Vec::new();
    for entry in archive.entries().expect("a tar stream") {
        let mut entry = entry.expect("a tar entry");
        let header = entry.header().clone();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let _ = entry.read_to_end(&mut Vec::new());
        owners.push((name, header.uid().unwrap(), header.gid().unwrap()));
    }
    owners
}

/// What every mode must show: root inside, the tenant's uid outside, image files root's,
/// writable layer, `docker exec`, volumes, `docker cp`, distinct tenants, the admin untouched.
fn check_tenant_isolation(daemon: &Daemon) {
    let image = test_image();
    let image = image.to_str().unwrap();
    let acme = Tenant::create(daemon, "acme");
    let globex = Tenant::create(daemon, "globex");
    assert!(acme.base >= 100_000 && globex.base >= 100_000, "tenant ranges start above the host's ids");
    assert!(acme.base.abs_diff(globex.base) >= RANGE, "ranges overlap: {} and {}", acme.base, globex.base);
    for tenant in [&acme, &globex] {
        tenant.docker_ok(&["import", image, "busybox"]);
    }

    // Inside: root, mapped to the tenant's range; the image's files are root's; root can write.
    let out = acme.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; stat -c %u:%g /bin/busybox /; touch /tmp/x && echo wrote; echo more >> /etc/hosts && echo hosts",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0", "0", "0:0", "0:0", "wrote", "hosts"], "{out}");
    for tenant in [&acme, &globex] {
        let map = tenant.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map", "/proc/self/gid_map"]);
        let mut both = tenant.uid_map();
        both.extend(tenant.uid_map());
        assert_eq!(map_numbers(&map), both, "tenant {}", tenant.name);
    }

    // A terminal: the container's own devpts, its console bound from there.
    let tty = acme.docker_ok(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; stat -c %t:%T /dev/console"]);
    assert_eq!(tty.lines().map(str::trim).collect::<Vec<_>>(), ["/dev/pts/0", "88:0"], "{tty:?}");

    // Outside: the container's process is the tenant's first uid, never root.
    acme.docker_ok(&["run", "-d", "--name", "app", "busybox", "sleep", "300"]);
    let pid: u32 = acme.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "app"]).trim().parse().unwrap();
    assert_eq!(host_uids(pid), [acme.base; 4], "the container's host uids");

    // docker exec joins the user namespace: root inside, the tenant's uid outside.
    assert_eq!(acme.docker_ok(&["exec", "app", "id", "-u"]).trim(), "0");
    let map = acme.docker_ok(&["exec", "app", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_numbers(&map), acme.uid_map());
    acme.docker_ok(&["exec", "-d", "-u", "1000", "app", "sleep", "299"]);
    let mut execs = Vec::new();
    common::wait_until(std::time::Duration::from_secs(10), || {
        execs = processes_beside(pid, b"sleep\x00299\x00");
        !execs.is_empty()
    });
    assert_eq!(execs.len(), 1, "the exec's process");
    assert_eq!(host_uids(execs[0]), [acme.base + 1000; 4], "the exec's host uids (user 1000)");

    // A container sharing the network namespace joins its user namespace (its sysfs mounts).
    let joined = acme.docker_ok(&["run", "--rm", "--network", "container:app", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_numbers(&joined), acme.uid_map());

    // docker cp sees the container's own ids, both ways.
    acme.docker_ok(&["exec", "app", "sh", "-c", "echo hi > /tmp/mine && chown 1000:1000 /tmp/mine"]);
    let archive = acme.docker(&["cp", "app:/tmp/mine", "-"]);
    assert!(archive.status.success(), "docker cp out: {}", stderr_text(&archive));
    assert_eq!(tar_owners(&archive.stdout), [("mine".to_string(), 1000, 1000)]);
    let incoming = daemon.scratch_dir().join("incoming");
    std::fs::write(&incoming, "in\n").unwrap();
    acme.docker_ok(&["cp", incoming.to_str().unwrap(), "app:/etc/incoming"]);
    assert_eq!(acme.docker_ok(&["exec", "app", "stat", "-c", "%u:%g", "/etc/incoming"]).trim(), "0:0");

    // A tenant's volume belongs to its root: writable inside, the tenant's uid on the host.
    let out = acme.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "touch /data/f && stat -c %u /data/f",
    ]);
    assert_eq!(out.trim(), "0");
    let mountpoint = acme.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]);
    let meta = std::fs::metadata(Path::new(mountpoint.trim()).join("f")).expect("the volume's file on the host");
    assert_eq!((meta.uid(), meta.gid()), (acme.base, acme.base));

    // Host paths are the admin's.
    let refused = acme.docker(&["run", "--rm", "-v", "/etc:/host-etc", "busybox", "true"]);
    assert!(!refused.status.success(), "a tenant bound a host path");

    // The admin's containers keep the host's user namespace.
    daemon.import_busybox();
    let admin = daemon.docker_ok(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_numbers(&admin), [0, 0, u64::from(u32::MAX)]);

    acme.docker_ok(&["rm", "-f", "app"]);
    acme.docker_ok(&["volume", "rm", "data"]);
}

#[test]
fn tenant_containers_run_in_their_own_user_namespace() {
    if skip() {
        return;
    }
    let daemon = Daemon::start();
    check_tenant_isolation(&daemon);
    assert!(
        daemon.log().contains("idmapped mounts"),
        "the daemon did not say how it presents layers:\n{}",
        tail(&daemon.log(), 40)
    );
    let shifted = daemon.data_root().join("layers-shifted");
    if daemon.log().contains("see the image layers through idmapped mounts") {
        assert!(!shifted.exists() || std::fs::read_dir(&shifted).unwrap().next().is_none(), "no copies are made");
    }
}

#[test]
fn shifted_layer_copies_when_idmapped_mounts_are_off() {
    if skip() {
        return;
    }
    let daemon = Daemon::start_with(&["--insecure-no-auth", "--userns-idmap", "off"]);
    check_tenant_isolation(&daemon);

    let acme = Tenant {
        daemon: &daemon,
        name: "acme".into(),
        base: 0,
        config: daemon.scratch_dir().join("docker-config-acme"),
    };
    let info = daemon.get("/kapsel/v1/tenants/acme").json();
    let base = info["uid_base"].as_u64().unwrap() as u32;
    let copies = daemon.data_root().join("layers-shifted").join(base.to_string());
    let layers: Vec<PathBuf> =
        std::fs::read_dir(&copies).expect("the tenant's shifted layers").map(|e| e.unwrap().path()).collect();
    assert_eq!(layers.len(), 1, "one copy of busybox's one layer: {layers:?}");
    let busybox = std::fs::symlink_metadata(layers[0].join("bin/busybox")).unwrap();
    assert_eq!((busybox.uid(), busybox.gid()), (base, base), "the copy is the tenant root's");

    // The copies live as long as one of the tenant's images uses the layer.
    acme.docker_ok(&["rmi", "busybox"]);
    assert!(!layers[0].exists(), "the copy outlived the tenant's last image using it");
}
