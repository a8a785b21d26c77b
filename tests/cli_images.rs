//! Milestone-1 acceptance tests with the real `docker` CLI: what a user
//! types and reads. Each test runs its own daemon.
//!
//! Expected outputs were checked against dockerd 20.10 / docker CLI 28.2.

mod common;

use common::{Daemon, is_sha256_id, sha256_of, test_image, test_image_bytes};

/// `docker import <test image> NAME`, returning the printed image ID.
fn import(d: &Daemon, name: &str) -> String {
    let image = test_image();
    let out = d.docker_ok(&["import", image.to_str().unwrap(), name]);
    let id = out.trim().to_string();
    assert!(is_sha256_id(&id), "docker import printed {out:?}, not an image ID");
    id
}

/// `docker image inspect -f '{{.Id}}' NAME`.
fn image_id(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", name]).trim().to_string()
}

/// The 12-hex short form docker shows in tables.
fn short(id: &str) -> &str {
    &id["sha256:".len().."sha256:".len() + 12]
}

/// Data rows of a `docker images`-style table: the first three columns
/// (REPOSITORY, TAG, IMAGE ID).
fn rows(table: &str) -> Vec<(String, String, String)> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("REPOSITORY"), "not an images table: {table}");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 3, "short row {l:?} in\n{table}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

fn has_row(table: &str, repo: &str, tag: &str, id: &str) -> bool {
    rows(table).iter().any(|(r, t, i)| r == repo && t == tag && i == short(id))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_reports_server_api_1_50_without_downgrade() {
    let d = Daemon::start();
    let out = d.docker_ok(&["version"]);
    let (_, server) =
        out.split_once("\nServer:").unwrap_or_else(|| panic!("no Server: section in docker version:\n{out}"));
    let api_line = server
        .lines()
        .find(|l| l.trim_start().starts_with("API version:"))
        .unwrap_or_else(|| panic!("no Engine API version in the Server section:\n{out}"));
    let api = api_line.trim_start()["API version:".len()..].trim();
    assert_eq!(api, "1.50 (minimum version 1.24)", "server API version line:\n{out}");
    assert!(!out.contains("downgraded"), "the CLI had to downgrade its API version:\n{out}");
    let fmt = d.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(fmt.trim(), "1.50");
}

#[test]
fn info_reports_host_and_data_root() {
    let d = Daemon::start();
    let out = d.docker_ok(&["info"]);
    let field = |name: &str| -> String {
        let prefix = format!("{name}:");
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("docker info has no {name:?} line:\n{out}"))
    };
    assert!(!field("Server Version").is_empty(), "empty Server Version:\n{out}");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(field("Kernel Version"), kernel.trim(), "{out}");
    let mem = field("Total Memory");
    assert!(mem.ends_with("iB") && !mem.starts_with("0"), "Total Memory {mem:?}:\n{out}");
    assert_eq!(field("Docker Root Dir"), d.data_root().display().to_string(), "{out}");
    let cgroup = field("Cgroup Version");
    assert!(cgroup == "1" || cgroup == "2", "Cgroup Version {cgroup:?}");
}

#[test]
fn import_from_file_and_from_stdin() {
    let d = Daemon::start();
    let id = import(&d, "busybox:latest");
    assert_eq!(image_id(&d, "busybox:latest"), id);

    let out = d.docker_stdin(&["import", "-", "other:1"], &test_image_bytes());
    d.assert_success("cat busybox.tar | docker import - other:1", &out);
    let other = stdout(&out).trim().to_string();
    assert!(is_sha256_id(&other), "import - printed {other:?}");
    assert_eq!(image_id(&d, "other:1"), other);

    // The layer is the tarball, byte for byte: its diff ID is its digest.
    let layers = d.docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox:latest"]);
    assert_eq!(layers.trim(), format!("[\"{}\"]", sha256_of(&test_image())));

    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "busybox", "latest", &id), "{table}");
    assert!(has_row(&table, "other", "1", &other), "{table}");
}

#[test]
fn import_applies_change_instructions() {
    let d = Daemon::start();
    let image = test_image();
    d.docker_ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        "--change",
        "ENV A=b",
        image.to_str().unwrap(),
        "withcfg:1",
    ]);
    let out = d.docker_ok(&["image", "inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Env}}", "withcfg:1"]);
    assert_eq!(out.trim(), r#"["/bin/sh"] ["A=b"]"#);
}

#[test]
fn images_quiet_digests_and_filters() {
    let d = Daemon::start();
    let bb = import(&d, "busybox:latest");
    let other = import(&d, "other:1");
    let image = test_image();
    let labeled =
        d.docker_ok(&["import", "--change", "LABEL a=b", image.to_str().unwrap(), "labeled:1"]).trim().to_string();

    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "busybox", "latest", &bb), "{table}");
    assert_eq!(rows(&table).len(), 3, "{table}");

    let quiet = d.docker_ok(&["images", "-q"]);
    let ids: Vec<&str> = quiet.lines().collect();
    assert_eq!(ids.len(), 3, "docker images -q:\n{quiet}");
    for id in &ids {
        assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()), "docker images -q printed {id:?}");
    }
    for full in [&bb, &other, &labeled] {
        assert!(ids.contains(&short(full)), "{full} missing from\n{quiet}");
    }

    let digests = d.docker_ok(&["images", "--digests"]);
    let header: Vec<&str> = digests.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(&header[..4], ["REPOSITORY", "TAG", "DIGEST", "IMAGE"], "{digests}");
    let row =
        digests.lines().find(|l| l.starts_with("busybox ")).unwrap_or_else(|| panic!("no busybox row:\n{digests}"));
    let f: Vec<&str> = row.split_whitespace().collect();
    // An imported image has no registry digest.
    assert_eq!(&f[..4], ["busybox", "latest", "<none>", short(&bb)], "{digests}");

    let filtered = d.docker_ok(&["images", "--filter", "reference=busy*"]);
    let r = rows(&filtered);
    assert_eq!(r.len(), 1, "reference=busy*:\n{filtered}");
    assert_eq!(r[0].0, "busybox", "{filtered}");

    let by_label = d.docker_ok(&["images", "-q", "--filter", "label=a=b"]);
    assert_eq!(by_label.trim(), short(&labeled), "label=a=b");
    let by_label_key = d.docker_ok(&["images", "-q", "--filter", "label=a"]);
    assert_eq!(by_label_key.trim(), short(&labeled), "label=a");

    let dangling = d.docker_ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.trim(), "", "no image is dangling yet");
}

#[test]
fn tag_save_rmi_load_round_trip() {
    let d = Daemon::start();
    let id = import(&d, "busybox:latest");
    d.docker_ok(&["tag", "busybox:latest", "myrepo/bb:v1"]);
    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "busybox", "latest", &id), "{table}");
    assert!(has_row(&table, "myrepo/bb", "v1", &id), "{table}");

    let archive = d.scratch_dir().join("x.tar");
    let archive_s = archive.to_str().unwrap();
    d.docker_ok(&["save", "busybox:latest", "myrepo/bb:v1", "-o", archive_s]);
    let manifest = common::run(
        {
            let mut c = std::process::Command::new("tar");
            c.args(["-xOf", archive_s, "manifest.json"]);
            c
        },
        None,
    );
    assert!(manifest.status.success(), "no manifest.json in the saved archive: {}", stderr(&manifest));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    let mut tags: Vec<&str> = manifest[0]["RepoTags"]
        .as_array()
        .unwrap_or_else(|| panic!("manifest.json: {manifest}"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["busybox:latest", "myrepo/bb:v1"]);

    let rmi = d.docker_ok(&["rmi", "busybox:latest", "myrepo/bb:v1"]);
    assert!(rmi.contains("Untagged: busybox:latest"), "{rmi}");
    assert!(rmi.contains("Untagged: myrepo/bb:v1"), "{rmi}");
    assert!(rmi.contains(&format!("Deleted: {id}")), "{rmi}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");

    let load = d.docker_ok(&["load", "-i", archive_s]);
    assert!(load.contains("Loaded image: busybox:latest"), "{load}");
    assert!(load.contains("Loaded image: myrepo/bb:v1"), "{load}");
    assert_eq!(image_id(&d, "busybox:latest"), id);
    assert_eq!(image_id(&d, "myrepo/bb:v1"), id);
    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "busybox", "latest", &id), "{table}");
    assert!(has_row(&table, "myrepo/bb", "v1", &id), "{table}");
}

#[test]
fn save_writes_oci_layout_and_docker_manifest() {
    let d = Daemon::start();
    import(&d, "busybox:latest");
    let archive = d.scratch_dir().join("oci.tar");
    let archive_s = archive.to_str().unwrap();
    d.docker_ok(&["save", "busybox:latest", "-o", archive_s]);
    let list = common::run(
        {
            let mut c = std::process::Command::new("tar");
            c.args(["-tf", archive_s]);
            c
        },
        None,
    );
    assert!(list.status.success(), "tar -tf: {}", stderr(&list));
    let entries = stdout(&list);
    for want in ["manifest.json", "index.json", "oci-layout"] {
        assert!(entries.lines().any(|e| e.trim_start_matches("./") == want), "docker save wrote no {want}:\n{entries}");
    }
    assert!(entries.lines().any(|e| e.starts_with("blobs/sha256/")), "no OCI blobs:\n{entries}");
}

#[test]
fn load_accepts_a_pure_oci_layout_archive() {
    let src = Daemon::start();
    let dst = Daemon::start();
    let id = import(&src, "busybox:latest");
    let saved = src.scratch_dir().join("saved.tar");
    src.docker_ok(&["save", "busybox:latest", "-o", saved.to_str().unwrap()]);
    // Repack without the docker-archive files (manifest.json, repositories):
    // only the OCI layout remains, and the name has to come from the
    // index's io.containerd.image.name annotation. (GNU `tar --delete`
    // mangles archives that are not padded to its record size, as docker's
    // are not, so extract and re-create instead.)
    let unpacked = src.scratch_dir().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let archive = src.scratch_dir().join("oci-only.tar");
    let archive_s = archive.to_str().unwrap();
    let repack = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"set -e; tar -xf "$1" -C "$2"; test -f "$2/index.json"; tar -cf "$3" -C "$2" oci-layout index.json blobs"#)
        .args(["sh", saved.to_str().unwrap(), unpacked.to_str().unwrap(), archive_s])
        .output()
        .unwrap();
    assert!(repack.status.success(), "repack: {}", stderr(&repack));
    let load = dst.docker_ok(&["load", "-i", archive_s]);
    assert!(load.contains("Loaded image: busybox:latest"), "{load}");
    assert_eq!(image_id(&dst, "busybox:latest"), id);
}

#[test]
fn save_piped_into_load_on_another_daemon() {
    let src = Daemon::start();
    let dst = Daemon::start();
    let id = import(&src, "busybox:latest");
    let out = src.shell(&format!("docker save busybox:latest | DOCKER_HOST={} docker load", dst.socket_url()));
    src.assert_success("docker save busybox:latest | docker load", &out);
    assert!(stdout(&out).contains("Loaded image: busybox:latest"), "{}", stdout(&out));
    assert_eq!(image_id(&dst, "busybox:latest"), id);
    let inspect = dst.docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox"]);
    assert_eq!(inspect.trim(), format!("[\"{}\"]", sha256_of(&test_image())));
}

#[test]
fn history_shows_the_import() {
    let d = Daemon::start();
    let id = import(&d, "busybox:latest");
    let out = d.docker_ok(&["history", "busybox"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{out}");
    assert_eq!(lines.len(), 2, "one layer, one history row:\n{out}");
    assert!(lines[1].starts_with(short(&id)), "{out}");
    assert!(lines[1].trim_end().ends_with("Imported from -"), "{out}");

    let full = d.docker_ok(&["history", "--no-trunc", "-q", "busybox"]);
    assert_eq!(full.trim(), id);
}

#[test]
fn rmi_untags_then_deletes() {
    let d = Daemon::start();
    let id = import(&d, "busybox:latest");
    d.docker_ok(&["tag", "busybox:latest", "myrepo/bb:v1"]);

    let out = d.docker_ok(&["rmi", "busybox:latest"]);
    assert_eq!(out.trim(), "Untagged: busybox:latest");
    assert_eq!(image_id(&d, "myrepo/bb:v1"), id);

    let out = d.docker_ok(&["rmi", "myrepo/bb:v1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Untagged: myrepo/bb:v1"), "{out}");
    assert!(lines.contains(&format!("Deleted: {id}").as_str()), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
}

#[test]
fn rmi_of_a_missing_image() {
    let d = Daemon::start();
    let out = d.docker(&["rmi", "nosuch"]);
    assert!(!out.status.success(), "docker rmi nosuch succeeded");
    assert!(stderr(&out).contains("No such image: nosuch"), "{}", stderr(&out));
    // The CLI forgives "not found" with -f (it still reports it on stderr),
    // but only when the daemon answers 404.
    let out = d.docker(&["rmi", "-f", "nosuch"]);
    assert!(out.status.success(), "docker rmi -f nosuch failed: {}", stderr(&out));
}

#[test]
fn image_prune_removes_dangling_images() {
    let d = Daemon::start();
    let old = import(&d, "dang:1");
    let image = test_image();
    // Re-importing under the same tag leaves the first image untagged.
    let new = d
        .docker_ok(&["import", "--change", r#"CMD ["/bin/sh"]"#, image.to_str().unwrap(), "dang:1"])
        .trim()
        .to_string();
    assert_ne!(old, new);
    let dangling = d.docker_ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.trim(), short(&old));
    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "<none>", "<none>", &old), "{table}");

    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {old}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q", "--filter", "dangling=true"]).trim(), "");
    assert_eq!(image_id(&d, "dang:1"), new);
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), short(&new));
}

#[test]
fn images_survive_a_restart() {
    let mut d = Daemon::start();
    let id = import(&d, "busybox:latest");
    d.docker_ok(&["tag", "busybox:latest", "myrepo/bb:v1"]);
    d.restart();
    let table = d.docker_ok(&["images"]);
    assert!(has_row(&table, "busybox", "latest", &id), "{table}");
    assert!(has_row(&table, "myrepo/bb", "v1", &id), "{table}");
    assert_eq!(image_id(&d, "busybox:latest"), id);
    let cmd = d.docker_ok(&["image", "inspect", "-f", "{{.Os}}", "myrepo/bb:v1"]);
    assert_eq!(cmd.trim(), "linux");
}

#[test]
fn images_survive_a_crash() {
    let mut d = Daemon::start();
    let id = import(&d, "busybox:latest");
    d.kill9();
    // The stale socket file of the killed daemon must not stop a new one.
    d.respawn();
    assert_eq!(image_id(&d, "busybox:latest"), id);
    let layers = d.docker_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox:latest"]);
    assert_eq!(layers.trim(), format!("[\"{}\"]", sha256_of(&test_image())));
}

#[test]
fn older_clients_use_the_version_prefix() {
    let d = Daemon::start();
    let id = import(&d, "busybox:latest");
    for version in ["1.41", "1.24"] {
        let out = d.docker_env_args(&[("DOCKER_API_VERSION", version)], &["images"]);
        d.assert_success(&format!("DOCKER_API_VERSION={version} docker images"), &out);
        assert!(has_row(&stdout(&out), "busybox", "latest", &id), "DOCKER_API_VERSION={version}:\n{}", stdout(&out));
    }
    let out = d.docker_env_args(&[("DOCKER_API_VERSION", "1.41")], &["version", "--format", "{{.Client.APIVersion}}"]);
    d.assert_success("DOCKER_API_VERSION=1.41 docker version", &out);
    assert_eq!(stdout(&out).trim(), "1.41");
}
