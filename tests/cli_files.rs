//! A container's files with the real `docker` CLI: `docker cp` both ways (running and stopped
//! containers, and hostile archives and symlinks that must not reach the host), `docker diff`,
//! `docker export` and `docker commit`.
//!
//! Each test runs its own daemon; containers need root (CI is root), so every test returns
//! early with a note when not run as root.

mod common;

use std::path::Path;

use common::{Daemon, running_as_root, stdout_text};

/// A small tree on the host: files, a nested directory, a symlink.
fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("top.txt"), "top\n").unwrap();
    std::fs::write(dir.join("sub/deeper/leaf.txt"), "leaf\n").unwrap();
    std::os::unix::fs::symlink("top.txt", dir.join("link")).unwrap();
}

/// Asserts that `copy` holds the tree `make_tree` made.
fn assert_tree(copy: &Path) {
    assert_eq!(std::fs::read_to_string(copy.join("top.txt")).unwrap(), "top\n", "{}", copy.display());
    assert_eq!(std::fs::read_to_string(copy.join("sub/deeper/leaf.txt")).unwrap(), "leaf\n");
    assert_eq!(std::fs::read_link(copy.join("link")).unwrap(), Path::new("top.txt"));
}

/// Lines of /proc/self/mountinfo that mention `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy().into_owned();
    text.lines().filter(|l| l.contains(dir.as_str())).map(String::from).collect()
}

/// A tar whose entries are written with raw headers, so hostile names get through unchanged.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Decodes standard base64 (the stat header).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|&b| b != b'=') {
        let value = ALPHABET.iter().position(|&a| a == byte).expect("a base64 character") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[test]
fn cp_round_trips_a_directory_with_running_and_stopped_containers() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let scratch = d.scratch_dir();
    let tree = scratch.join("tree");
    make_tree(&tree);
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);

    // host → running container → host
    d.docker_ok(&["cp", tree.to_str().unwrap(), "box:/data"]);
    assert_eq!(d.docker_ok(&["exec", "box", "cat", "/data/sub/deeper/leaf.txt"]), "leaf\n");
    let back = scratch.join("back");
    d.docker_ok(&["cp", "box:/data", back.to_str().unwrap()]);
    assert_tree(&back);
    // `dir/.` copies the contents only.
    let contents = scratch.join("contents");
    std::fs::create_dir(&contents).unwrap();
    d.docker_ok(&["cp", "box:/data/.", contents.to_str().unwrap()]);
    assert_tree(&contents);
    // A single file, and a missing one.
    let file = scratch.join("passwd");
    d.docker_ok(&["cp", "box:/etc/passwd", file.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("root:"));
    let out = d.docker(&["cp", "box:/no/such/file", scratch.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(common::stderr_text(&out).contains("Could not find the file /no/such/file in container box"), "{out:?}");

    // host → stopped container → host; the overlay is mounted only privately meanwhile.
    d.docker_ok(&["stop", "-t", "1", "box"]);
    d.docker_ok(&["cp", tree.to_str().unwrap(), "box:/stopped"]);
    let back_stopped = scratch.join("back-stopped");
    d.docker_ok(&["cp", "box:/stopped", back_stopped.to_str().unwrap()]);
    assert_tree(&back_stopped);
    assert_eq!(host_mounts_under(d.data_root()), Vec::<String>::new(), "no mount is left on the host");
    d.docker_ok(&["start", "box"]);
    assert_eq!(d.docker_ok(&["exec", "box", "cat", "/stopped/top.txt"]), "top\n");
    d.remove_all_containers();
}

#[test]
fn cp_cannot_write_outside_the_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let scratch = d.scratch_dir();
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);
    let unique = format!("kapsel-cp-escape-{}", std::process::id());

    // An archive entry climbing out of the destination is refused with a 400.
    let host_target = std::env::temp_dir().join(&unique);
    let climbing = format!("../../../../../../../..{}", host_target.display());
    let tar = raw_tar(&[(climbing.as_str(), tar::EntryType::Regular, "", b"pwned")]);
    let reply = d.http("PUT", "/v1.50/containers/box/archive?path=/tmp&noOverwriteDirNonDir=true", Some(&tar), &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.json()["message"].as_str().unwrap().contains("leaves the destination"), "{}", reply.text());
    assert!(!host_target.exists(), "{} was written on the host", host_target.display());

    // An archive that plants a symlink to the host's directory and writes through it: the
    // link resolves inside the container.
    let host_dir = scratch.join("host-dir");
    std::fs::create_dir(&host_dir).unwrap();
    let through = format!("{}/pwned", "planted");
    let tar = raw_tar(&[
        ("planted", tar::EntryType::Symlink, host_dir.to_str().unwrap(), b""),
        (through.as_str(), tar::EntryType::Regular, "", b"pwned"),
    ]);
    let reply = d.http("PUT", "/v1.50/containers/box/archive?path=/tmp", Some(&tar), &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(std::fs::read_dir(&host_dir).unwrap().next().is_none(), "the host directory was written to");

    // `ln -s / /escape` in the container: `docker cp f c:/escape/tmp/` lands in its /tmp.
    let file = scratch.join(&unique);
    std::fs::write(&file, "inside\n").unwrap();
    d.docker_ok(&["exec", "box", "ln", "-s", "/", "/escape"]);
    d.docker_ok(&["cp", file.to_str().unwrap(), "box:/escape/tmp/"]);
    assert_eq!(d.docker_ok(&["exec", "box", "cat", &format!("/tmp/{unique}")]), "inside\n");
    assert!(!host_target.exists(), "{} was written on the host", host_target.display());

    // A symlink to a host path as the destination: followed inside the container only.
    d.docker_ok(&["exec", "box", "ln", "-s", host_dir.to_str().unwrap(), "/hostlink"]);
    let out = d.docker(&["cp", file.to_str().unwrap(), "box:/hostlink/"]);
    assert!(!out.status.success(), "the link's target does not exist in the container: {out:?}");
    d.docker_ok(&["exec", "box", "mkdir", "-p", host_dir.to_str().unwrap()]);
    d.docker_ok(&["cp", file.to_str().unwrap(), "box:/hostlink/"]);
    let inside = format!("{}/{unique}", host_dir.display());
    assert_eq!(d.docker_ok(&["exec", "box", "cat", &inside]), "inside\n");
    assert!(std::fs::read_dir(&host_dir).unwrap().next().is_none(), "the host directory was written to");

    // The container's kernel file systems are not written to.
    let tar = raw_tar(&[("x", tar::EntryType::Regular, "", b"x")]);
    let reply = d.http("PUT", "/v1.50/containers/box/archive?path=/proc", Some(&tar), &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    // A file is no extraction point; a missing directory is a 404.
    let reply = d.http("PUT", "/v1.50/containers/box/archive?path=/etc/passwd", Some(&tar), &[]);
    assert_eq!((reply.status, reply.json()["message"].as_str()), (400, Some("extraction point is not a directory")));
    let reply = d.http("PUT", "/v1.50/containers/box/archive?path=/nope", Some(&tar), &[]);
    assert_eq!(reply.status, 404, "{}", reply.text());
    d.remove_all_containers();
}

#[test]
fn archive_head_carries_the_path_stat() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "box", "busybox", "true"]);
    let reply = d.http("HEAD", "/v1.50/containers/box/archive?path=/bin/sh", None, &[]);
    assert_eq!(reply.status, 200);
    let header = reply.header("x-docker-container-path-stat").expect("the stat header");
    let stat: serde_json::Value = serde_json::from_slice(&base64_decode(header)).expect("stat JSON");
    assert_eq!(stat["name"], "sh");
    assert_eq!(stat["linkTarget"], "/bin/busybox");
    assert_ne!(stat["mode"].as_u64().unwrap() & (1 << 27), 0, "a symlink in Go's FileMode: {stat}");
    let reply = d.http("HEAD", "/v1.50/containers/box/archive?path=/nope", None, &[]);
    assert_eq!(reply.status, 404);
    d.remove_all_containers();
}

#[test]
fn diff_shows_added_changed_and_deleted_paths() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let script = "mkdir /added && echo x > /added/f && rm /etc/group && echo more >> /etc/passwd";
    d.docker_ok(&["run", "--name", "box", "busybox", "sh", "-c", script]);
    let out = d.docker_ok(&["diff", "box"]);
    assert_eq!(out, "A /added\nA /added/f\nC /etc\nD /etc/group\nC /etc/passwd\n");
    // A fresh container changed nothing (its mount points are not changes).
    d.docker_ok(&["run", "--name", "quiet", "busybox", "true"]);
    assert_eq!(d.docker_ok(&["diff", "quiet"]), "");
    let out = d.docker(&["diff", "nosuch"]);
    assert!(common::stderr_text(&out).contains("No such container: nosuch"), "{out:?}");
    d.remove_all_containers();
}

#[test]
fn export_lists_the_containers_files() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "--name", "box", "busybox", "sh", "-c", "echo exported > /exported.txt"]);
    let out = d.shell("docker export box | tar t");
    d.assert_success("docker export box | tar t", &out);
    let names = stdout_text(&out);
    for expected in ["bin/busybox", "etc/passwd", "exported.txt", "www/index.html"] {
        assert!(names.lines().any(|l| l == expected), "{expected} missing from the export:\n{names}");
    }
    assert!(!names.lines().any(|l| l.starts_with('/') || l.starts_with("./")), "{names}");

    // A running container exports its root without what is mounted on it.
    d.docker_ok(&["run", "-d", "--name", "running", "busybox", "sleep", "300"]);
    let out = d.shell("docker export running | tar t");
    d.assert_success("docker export running | tar t", &out);
    let names = stdout_text(&out);
    assert!(names.lines().any(|l| l == "bin/busybox"), "{names}");
    assert!(!names.lines().any(|l| l.starts_with("proc/") && l != "proc/"), "no /proc contents:\n{names}");
    d.remove_all_containers();
}

#[test]
fn commit_makes_an_image_that_runs_with_the_committed_files() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "--name", "box", "busybox", "sh", "-c", "echo committed > /f && rm /etc/group"]);
    let id = d.docker_ok(&["commit", "--change", r#"CMD ["cat","/f"]"#, "-m", "the message", "box", "committed:v1"]);
    assert!(common::is_sha256_id(id.trim()), "docker commit printed {id:?}");
    assert_eq!(d.docker_ok(&["run", "--rm", "committed:v1"]), "committed\n");
    let out = d.docker(&["run", "--rm", "committed:v1", "ls", "/etc/group"]);
    assert!(!out.status.success(), "a file deleted in the container is gone in the image");
    let history = d.docker_ok(&["history", "--format", "{{.Comment}}", "committed:v1"]);
    assert_eq!(history.lines().next(), Some("the message"), "{history}");
    let layers = d.inspect("committed:v1", "{{len .RootFS.Layers}}");
    assert_eq!(layers, "2");

    // A running container is committed too (paused meanwhile), and keeps running.
    d.docker_ok(&["run", "-d", "--name", "running", "busybox", "sh", "-c", "echo live > /live; sleep 300"]);
    assert!(common::wait_until(std::time::Duration::from_secs(10), || {
        d.docker(&["exec", "running", "cat", "/live"]).status.success()
    }));
    d.docker_ok(&["commit", "running", "live:v1"]);
    assert_eq!(d.inspect("running", "{{.State.Status}}"), "running");
    assert_eq!(d.docker_ok(&["run", "--rm", "live:v1", "cat", "/live"]), "live\n");
    d.remove_all_containers();
}
