//! Volumes with the real `docker` CLI: `docker volume create/ls/inspect/rm/prune`, named and
//! anonymous volumes in containers, seeding from the image, read-only mounts, tmpfs and bind
//! volumes, `docker rm -v`, and data that outlives containers and daemon restarts.
//!
//! Each test runs its own daemon; containers need root (CI is root), so tests that run
//! containers return early with a note when not run as root. Every test removes its containers
//! and volumes and checks that no mount is left under the data root.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, running_as_root, stderr_text, stdout_text};

/// Removes every container and volume, then checks that nothing is mounted under the data root.
fn clean_up(d: &Daemon) {
    d.remove_all_containers();
    d.docker_ok(&["volume", "prune", "--all", "--force"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "");
    assert_eq!(host_mounts_under(d.data_root()), Vec::<String>::new(), "no mount is left on the host");
    let volumes = d.data_root().join("volumes");
    if volumes.exists() {
        assert_eq!(std::fs::read_dir(&volumes).unwrap().count(), 0, "no volume directory is left");
    }
}

/// Lines of /proc/self/mountinfo that mention `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy().into_owned();
    text.lines().filter(|l| l.contains(dir.as_str())).map(String::from).collect()
}

/// Now as `SECONDS.NANOSECONDS`, a form `docker events --since/--until` take.
fn unix_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[test]
fn volume_commands_without_containers() {
    let d = Daemon::start();
    assert_eq!(d.docker_ok(&["volume", "create", "--label", "team=a", "data"]), "data\n");
    // A second create of the name returns the volume as it is.
    assert_eq!(d.docker_ok(&["volume", "create", "data"]), "data\n");
    let inspect: serde_json::Value = serde_json::from_str(&d.docker_ok(&["volume", "inspect", "data"])).unwrap();
    let v = &inspect[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], serde_json::json!({"team": "a"}));
    assert_eq!(v["Options"], serde_json::json!({}));
    let mountpoint = d.data_root().join("volumes/data/_data");
    assert_eq!(v["Mountpoint"], mountpoint.to_str().unwrap());
    assert!(mountpoint.is_dir());
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'), "{v}");

    let anonymous = d.docker_ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anonymous.len(), 64, "{anonymous}");
    let ls = d.docker_ok(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    let mut listed: Vec<&str> = ls.lines().collect();
    listed.sort();
    let mut expected = [format!("local {anonymous}"), "local data".to_string()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "label=team=a"]), "data\n");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "name=dat"]), "data\n");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=false"]), "");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "driver=local"]).lines().count(), 2);

    // Names as Docker's local driver takes them; 400 with its words.
    let out = d.docker(&["volume", "create", "a/b"]);
    assert!(!out.status.success());
    assert!(
        stderr_text(&out).contains(
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
        ),
        "{}",
        stderr_text(&out)
    );
    let reply = d.http("POST", "/volumes/create", Some(br#"{"Name":"a/b"}"#), &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    let reply = d.http("POST", "/volumes/create", Some(br#"{"Name":"o","DriverOpts":{"bogus":"1"}}"#), &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    let out = d.docker(&["volume", "inspect", "nope"]);
    assert!(stderr_text(&out).contains("no such volume"), "{}", stderr_text(&out));
    assert_eq!(d.http("DELETE", "/volumes/nope", None, &[]).status, 404);
    assert_eq!(d.http("DELETE", "/volumes/nope?force=1", None, &[]).status, 204);

    // prune: anonymous volumes only, unless --all.
    let out = d.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anonymous), "{out}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "data\n");
    d.docker_ok(&["volume", "rm", "data"]);
    assert!(!mountpoint.exists());
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn data_outlives_containers_and_daemon_restarts() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    let since = unix_now();
    d.docker_ok(&["volume", "create", "data"]);
    d.docker_ok(&["run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c", "echo hello > /data/f"]);
    d.docker_ok(&["rm", "writer"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f"]), "hello\n");
    // -v with a name that does not exist yet makes the volume.
    d.docker_ok(&["run", "--rm", "-v", "fresh:/fresh", "busybox", "sh", "-c", "echo new > /fresh/g"]);
    d.restart();
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "data:/data:ro", "busybox", "cat", "/data/f"]), "hello\n");
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "fresh:/x", "busybox", "cat", "/x/g"]), "new\n");
    let ls = d.docker_ok(&["volume", "ls", "-q"]);
    assert_eq!(ls, "data\nfresh\n");

    // The volume events dockerd emits.
    let until = unix_now();
    let out = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "volume=data",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.driver}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"volume create local"), "{out}");
    assert!(lines.contains(&"volume mount local") && lines.contains(&"volume unmount local"), "{out}");
    d.docker_ok(&["volume", "rm", "data", "fresh"]);
    let until = unix_now();
    let out = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--filter",
        "event=destroy",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(out, "data\nfresh\n");
    clean_up(&d);
}

#[test]
fn anonymous_volumes_and_rm_v() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "c1", "-v", "/data", "busybox", "true"]);
    let mounts: serde_json::Value = serde_json::from_str(&d.inspect("c1", "{{json .Mounts}}")).unwrap();
    let m = &mounts[0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    let name = m["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(m["Source"], d.data_root().join("volumes").join(&name).join("_data").to_str().unwrap());
    let labels = d.docker_ok(&["volume", "inspect", "-f", "{{json .Labels}}", &name]);
    assert_eq!(labels.trim(), r#"{"com.docker.volume.anonymous":""}"#);
    d.docker_ok(&["rm", "-v", "c1"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "", "docker rm -v removes the anonymous volume");

    // Without -v it stays, dangling; named volumes are never removed with the container.
    d.docker_ok(&["create", "--name", "c2", "-v", "/data", "-v", "keep:/keep", "busybox", "true"]);
    let anonymous = d.inspect("c2", "{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=true"]), "");
    d.docker_ok(&["rm", "c2"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=true"]), format!("{anonymous}\nkeep\n"));
    d.docker_ok(&["volume", "prune", "-f"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "keep\n", "prune without --all keeps named volumes");

    // The image's VOLUMEs are anonymous volumes, seeded from the image.
    let image = common::test_image();
    d.docker_ok(&["import", "--change", "VOLUME /www", image.to_str().unwrap(), "webimg"]);
    d.docker_ok(&["create", "--name", "web", "webimg", "cat", "/www/index.html"]);
    let web = d.inspect("web", "{{range .Mounts}}{{.Type}} {{.Destination}} {{len .Name}}{{end}}");
    assert_eq!(web, "volume /www 64");
    d.docker_ok(&["start", "-a", "web"]);
    assert!(d.docker_ok(&["logs", "web"]).contains("<"), "the page came from the image");
    d.docker_ok(&["rm", "-v", "web"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "keep\n");

    // --rm removes the anonymous volumes too.
    d.docker_ok(&["run", "--rm", "-v", "/scratch", "-v", "keep:/keep", "busybox", "true"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "keep\n");
    clean_up(&d);
}

#[test]
fn a_volume_in_use_cannot_be_removed() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["volume", "create", "busy"]);
    let id = d.docker_ok(&["create", "--name", "holder", "-v", "busy:/b", "busybox", "true"]).trim().to_string();
    let out = d.docker(&["volume", "rm", "busy"]);
    assert!(!out.status.success());
    assert!(stderr_text(&out).contains(&format!("remove busy: volume is in use - [{id}]")), "{}", stderr_text(&out));
    let reply = d.http("DELETE", "/volumes/busy", None, &[]);
    assert_eq!(reply.status, 409, "{}", reply.text());
    d.docker_ok(&["volume", "prune", "-af"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "busy\n", "prune leaves volumes in use");
    d.docker_ok(&["rm", "holder"]);
    d.docker_ok(&["volume", "rm", "busy"]);
    clean_up(&d);
}

#[test]
fn new_volumes_are_seeded_from_the_image() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let passwd = d.docker_ok(&["run", "--rm", "-v", "etc:/etc", "busybox", "cat", "/etc/passwd"]);
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    assert!(d.data_root().join("volumes/etc/_data/passwd").is_file());
    // Modes come along: the image's /tmp is 1777, its /root 700.
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "/tmp", "busybox", "stat", "-c", "%a", "/tmp"]), "1777\n");
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "home:/root", "busybox", "stat", "-c", "%a", "/root"]), "700\n");
    // A volume with content is not seeded again; nocopy leaves a new volume empty.
    d.docker_ok(&["run", "--rm", "-v", "etc:/etc", "busybox", "rm", "/etc/group"]);
    let out = d.docker(&["run", "--rm", "-v", "etc:/etc", "busybox", "cat", "/etc/group"]);
    assert!(!out.status.success(), "{}", stdout_text(&out));
    let ls = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=empty,dst=/etc,volume-nocopy",
        "busybox",
        "ls",
        "/etc",
    ]);
    assert!(!ls.contains("passwd"), "{ls}");
    clean_up(&d);
}

#[test]
fn mount_type_volume_options() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "--rm", "--mount", "type=volume,src=vv,dst=/v", "busybox", "touch", "/v/ok"]);
    let out = d.docker(&["run", "--rm", "--mount", "type=volume,src=vv,dst=/v,readonly", "busybox", "touch", "/v/x"]);
    assert!(!out.status.success());
    assert!(stderr_text(&out).contains("Read-only file system"), "{}", stderr_text(&out));
    let out = d.docker(&["run", "--rm", "-v", "vv:/v:ro", "busybox", "touch", "/v/x"]);
    assert!(!out.status.success());
    d.docker_ok(&["create", "--name", "ro", "--mount", "type=volume,src=vv,dst=/v,readonly", "busybox", "true"]);
    assert_eq!(d.inspect("ro", "{{range .Mounts}}{{.Type}} {{.Name}} {{.RW}}{{end}}"), "volume vv false");
    // Labels and options of a volume made by --mount.
    d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=labelled,dst=/l,volume-label=k=v,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
        "busybox",
        "true",
    ]);
    assert_eq!(d.docker_ok(&["volume", "inspect", "-f", "{{.Labels.k}} {{.Options.type}}", "labelled"]), "v tmpfs\n");
    clean_up(&d);
}

#[test]
fn tmpfs_and_bind_volumes() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tv"]);
    let options = d.docker_ok(&["volume", "inspect", "-f", "{{json .Options}}", "tv"]);
    assert_eq!(options.trim(), r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#);
    d.docker_ok(&["run", "-d", "--name", "t1", "-v", "tv:/t", "busybox", "sleep", "300"]);
    d.docker_ok(&["run", "-d", "--name", "t2", "-v", "tv:/t", "busybox", "sleep", "300"]);
    let mounts = d.docker_ok(&["exec", "t1", "grep", " /t ", "/proc/mounts"]);
    assert!(mounts.starts_with("tmpfs /t tmpfs") && mounts.contains("size=1024k"), "{mounts}");
    // One tmpfs, shared by both containers.
    d.docker_ok(&["exec", "t1", "sh", "-c", "echo shared > /t/f"]);
    assert_eq!(d.docker_ok(&["exec", "t2", "cat", "/t/f"]), "shared\n");
    let data = d.data_root().join("volumes/tv/_data");
    let data_text = data.to_str().unwrap().to_string();
    assert_eq!(host_mounts_under(&data).len(), 1, "mounted once on the host");
    d.docker_ok(&["rm", "-f", "t1"]);
    assert_eq!(host_mounts_under(&data).len(), 1, "still used by t2");
    d.docker_ok(&["rm", "-f", "t2"]);
    assert!(host_mounts_under(&data).is_empty(), "unmounted with the last user: {data_text}");

    // A bind volume: the host directory is used, and left alone when the volume goes.
    let host_dir = d.scratch_dir().join("bind-src");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("before"), "x").unwrap();
    let device = format!("device={}", host_dir.display());
    d.docker_ok(&["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &device, "bv"]);
    let seen = d.docker_ok(&["run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "ls /b; echo y > /b/after"]);
    assert_eq!(seen, "before\n");
    assert_eq!(std::fs::read_to_string(host_dir.join("after")).unwrap(), "y\n");
    d.docker_ok(&["volume", "rm", "bv"]);
    assert!(host_dir.join("before").exists() && host_dir.join("after").exists(), "the host's files stay");
    clean_up(&d);
}

#[test]
fn volumes_survive_a_restart_while_mounted() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    d.docker_ok(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tv"]);
    d.docker_ok(&["run", "-d", "--name", "keep", "-v", "tv:/t", "busybox", "sleep", "300"]);
    d.docker_ok(&["exec", "keep", "sh", "-c", "echo still > /t/f"]);
    d.restart();
    assert_eq!(d.docker_ok(&["exec", "keep", "cat", "/t/f"]), "still\n");
    let data = d.data_root().join("volumes/tv/_data");
    assert_eq!(host_mounts_under(&data).len(), 1, "the running container keeps its tmpfs");
    d.docker_ok(&["stop", "-t", "1", "keep"]);
    assert!(
        common::wait_until(Duration::from_secs(10), || host_mounts_under(&data).is_empty()),
        "unmounted once the container stopped"
    );
    clean_up(&d);
}

#[test]
fn cp_reaches_the_volumes_of_a_stopped_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "stopped", "-v", "files:/files", "-v", "/anon", "busybox", "true"]);
    let file = d.scratch_dir().join("note.txt");
    std::fs::write(&file, "via cp\n").unwrap();
    d.docker_ok(&["cp", file.to_str().unwrap(), "stopped:/files/"]);
    assert_eq!(std::fs::read_to_string(d.data_root().join("volumes/files/_data/note.txt")).unwrap(), "via cp\n");
    let back = d.scratch_dir().join("back.txt");
    d.docker_ok(&["cp", "stopped:/files/note.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "via cp\n");
    assert_eq!(host_mounts_under(d.data_root()), Vec::<String>::new(), "the view was private");
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "files:/f", "busybox", "cat", "/f/note.txt"]), "via cp\n");
    clean_up(&d);
}

#[test]
fn volumes_from_lends_volumes_and_binds() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let host_dir = d.scratch_dir().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("h"), "from the host\n").unwrap();
    let bind = format!("{}:/host", host_dir.display());
    d.docker_ok(&[
        "run",
        "--name",
        "src",
        "-v",
        "named:/named",
        "-v",
        "/anon",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo named > /named/f && echo anon > /anon/f",
    ]);

    // Everything src mounts, at the same places, with src's modes.
    let out =
        d.docker_ok(&["run", "--rm", "--volumes-from", "src", "busybox", "cat", "/named/f", "/anon/f", "/host/h"]);
    assert_eq!(out, "named\nanon\nfrom the host\n");
    d.docker_ok(&["run", "--rm", "--volumes-from", "src", "busybox", "sh", "-c", "echo more >> /anon/f"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "--volumes-from", "src", "busybox", "cat", "/anon/f"]), "anon\nmore\n");

    // :ro makes all of it read-only; the container's own mount wins at the same destination.
    let out = d.docker(&["run", "--rm", "--volumes-from", "src:ro", "busybox", "touch", "/named/x"]);
    assert!(!out.status.success(), "wrote through a :ro --volumes-from");
    assert!(stderr_text(&out).contains("Read-only file system"), "{}", stderr_text(&out));
    let out = d.docker(&["run", "--rm", "--volumes-from", "src:ro", "busybox", "touch", "/host/x"]);
    assert!(!out.status.success(), "wrote to the host bind through a :ro --volumes-from");
    let out = d.docker_ok(&["run", "--rm", "--volumes-from", "src", "-v", "other:/named", "busybox", "ls", "/named"]);
    assert_eq!(out, "", "the container's own volume at /named, not src's");
    d.docker_ok(&["create", "--name", "borrower", "--volumes-from", "src", "busybox", "true"]);
    let destinations = d.inspect("borrower", "{{range .Mounts}}{{.Destination}} {{end}}");
    let mut destinations: Vec<&str> = destinations.split_whitespace().collect();
    destinations.sort_unstable();
    assert_eq!(destinations, ["/anon", "/host", "/named"]);
    assert_eq!(d.inspect("borrower", "{{json .HostConfig.VolumesFrom}}"), r#"["src"]"#);

    // Bad input: Docker's status codes and words, and nothing made.
    let out = d.docker(&["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"]);
    d.assert_exit("docker run --volumes-from nosuch", &out, 125);
    assert!(stderr_text(&out).contains("No such container: nosuch"), "{}", stderr_text(&out));
    assert!(!stderr_text(&out).contains("Unable to find image"), "{}", stderr_text(&out));
    let json = [("Content-Type", "application/json")];
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"VolumesFrom":["nosuch"]}}"#;
    let reply = d.http("POST", "/containers/create", Some(body), &json);
    assert_eq!((reply.status, reply.json()["message"].clone()), (400, "No such container: nosuch".into()));
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"VolumesFrom":["src:xyz"]}}"#;
    let reply = d.http("POST", "/containers/create", Some(body), &json);
    assert_eq!((reply.status, reply.json()["message"].clone()), (400, "invalid mode: xyz".into()));
    assert_eq!(d.docker_ok(&["ps", "-aq"]).lines().count(), 2, "only src and borrower exist");
    clean_up(&d);
}
