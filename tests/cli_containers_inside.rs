//! "Containers that really run" acceptance tests with the real `docker` CLI:
//! what a process sees and may do inside a container — PID 1, hostname,
//! isolation from the host, resource limits and their enforcement,
//! privileges, and the `docker run` options that shape the process
//! (--read-only, volumes, --user, -e, -w, --entrypoint, capabilities,
//! ulimits, --init).
//!
//! Each test runs its own daemon; containers need root (CI is root), so
//! every test returns early with a note when not run as root.

mod common;

use std::path::Path;

use common::{Daemon, running_as_root, stderr_text, stdout_text};

/// `docker run --rm ARGS… busybox sh -c SCRIPT`: (exit code, stdout, stderr).
fn run_sh(d: &Daemon, options: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(options);
    args.extend(["busybox", "sh", "-c", script]);
    let out = d.docker(&args);
    let code = out.status.code().unwrap_or_else(|| panic!("docker {args:?} was killed: {}", out.status));
    (code, stdout_text(&out), stderr_text(&out))
}

/// Like [`run_sh`], asserting exit code 0; returns stdout.
fn run_sh_ok(d: &Daemon, options: &[&str], script: &str) -> String {
    let (code, out, err) = run_sh(d, options, script);
    assert_eq!(
        code,
        0,
        "docker run {options:?} busybox sh -c {script:?} exited with {code}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- daemon log (tail) ---\n{}",
        common::tail(&d.log(), 40)
    );
    out
}

/// True on a cgroup v2 (unified) host.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

// ---- PID 1, hostname, isolation ------------------------------------------

#[test]
fn the_command_is_pid_1_with_its_own_hostname_and_no_view_of_the_host() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    assert_eq!(run_sh_ok(&d, &[], "echo $$"), "1\n", "PID of the command");

    // The hostname defaults to the short container ID.
    let out = d.docker(&["run", "--name", "named-host", "busybox", "hostname"]);
    d.assert_exit("docker run --name named-host busybox hostname", &out, 0);
    let id = d.inspect("named-host", "{{.Id}}");
    assert_eq!(stdout_text(&out).trim(), &id[..12], "default hostname");
    d.docker_ok(&["rm", "named-host"]);
    assert_eq!(run_sh_ok(&d, &["--hostname", "box1"], "hostname; cat /etc/hostname"), "box1\nbox1\n");

    // Only the container's own processes are visible.
    let out = d.docker(&["run", "--rm", "busybox", "ps", "-o", "pid"]);
    d.assert_exit("docker run --rm busybox ps -o pid", &out, 0);
    let ps = stdout_text(&out);
    let pids: Vec<&str> = ps.lines().skip(1).map(str::trim).collect();
    assert!(!pids.is_empty() && pids.len() <= 2, "ps inside a container should list only its own processes:\n{ps}");
    assert_eq!(pids[0], "1", "ps inside a container:\n{ps}");

    // Host files are not visible.
    let marker =
        tempfile::Builder::new().prefix("kapsel-marker-").tempfile_in("/tmp").expect("create a marker file in /tmp");
    let marker_path = marker.path().display().to_string();
    assert!(Path::new(&marker_path).exists());
    assert_eq!(
        run_sh_ok(&d, &[], &format!("if test -e {marker_path}; then echo visible; else echo hidden; fi")),
        "hidden\n",
        "the host file {marker_path} is visible inside the container"
    );

    // --network none: only the loopback interface.
    let links = run_sh_ok(&d, &["--network", "none"], "ip -o link");
    let links: Vec<&str> = links.lines().collect();
    assert_eq!(links.len(), 1, "ip -o link with --network none: {links:?}");
    assert!(links[0].starts_with("1: lo:"), "ip -o link with --network none: {links:?}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

// ---- resource limits ---------------------------------------------------------

#[test]
fn resource_limits_are_visible_in_the_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let options = ["-m", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    let read = "for f in \"$@\"; do echo \"$f=$(cat $f)\"; done";
    let files: &[&str] = if cgroup_v2() {
        &["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/cpu.max"]
    } else {
        &[
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
        ]
    };
    let mut args = vec!["run", "--rm"];
    args.extend(options);
    args.extend(["busybox", "sh", "-c", read, "sh"]);
    args.extend(files);
    let out = d.docker(&args);
    d.assert_exit("docker run -m 64m --pids-limit 50 --cpus 0.5 …", &out, 0);
    let text = stdout_text(&out);
    let value = |file: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{file}=")))
            .unwrap_or_else(|| panic!("{file} not read:\n{text}\n{}", stderr_text(&out)))
            .to_string()
    };
    if cgroup_v2() {
        assert_eq!(value("/sys/fs/cgroup/memory.max"), "67108864", "{text}");
        assert_eq!(value("/sys/fs/cgroup/pids.max"), "50", "{text}");
        assert_eq!(value("/sys/fs/cgroup/cpu.max"), "50000 100000", "{text}");
    } else {
        assert_eq!(value("/sys/fs/cgroup/memory/memory.limit_in_bytes"), "67108864", "{text}");
        assert_eq!(value("/sys/fs/cgroup/pids/pids.max"), "50", "{text}");
        assert_eq!(value("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000", "{text}");
        assert_eq!(value("/sys/fs/cgroup/cpu/cpu.cfs_period_us"), "100000", "{text}");
    }
    // The limits are recorded in the container's configuration too.
    d.docker_ok(&[
        "create",
        "--name",
        "limited",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "busybox",
        "true",
    ]);
    assert_eq!(
        d.inspect("limited", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}"),
        "67108864 50 500000000"
    );
    d.docker_ok(&["rm", "limited"]);
}

#[test]
fn memory_limit_is_enforced_by_the_oom_killer() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // Doubles a string up to 256 MiB: far beyond 32m, yet bounded so a
    // missing limit fails the test instead of exhausting the host.
    let out = d.docker(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "--memory-swap",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=0123456789abcdef; i=0; while [ $i -lt 24 ]; do x=\"$x$x\"; i=$((i+1)); done; echo survived",
    ]);
    assert!(!stdout_text(&out).contains("survived"), "a shell using 256 MiB survived -m 32m --memory-swap 32m");
    d.assert_exit("docker run -m 32m --memory-swap 32m <memory hog>", &out, 137);
    let state = d.container_state("hog");
    assert_eq!(state["OOMKilled"], true, "{state}");
    assert_eq!(state["ExitCode"], 137, "{state}");
    assert_eq!(state["Status"], "exited", "{state}");
    d.docker_ok(&["rm", "hog"]);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // 60 background sleeps: fine without a limit, too many with 20.
    let (code, out, err) = run_sh(
        &d,
        &["--pids-limit", "20"],
        "i=0; while [ $i -lt 60 ]; do sleep 2 & i=$((i+1)); done; wait; echo all-forked",
    );
    assert!(
        err.contains("can't fork"),
        "no fork failed under --pids-limit 20 (exit {code})\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    assert!(!out.contains("all-forked"), "{out}");
    assert_ne!(code, 0);
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

// ---- privileges ----------------------------------------------------------------

#[test]
fn mounting_and_kernel_writes_need_privileged() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    let (code, out, err) = run_sh(&d, &[], "mount -t tmpfs x /tmp && echo mounted");
    assert!(
        code != 0 && !out.contains("mounted"),
        "mount worked in an unprivileged container (exit {code}): {out}{err}"
    );
    let out = run_sh_ok(
        &d,
        &["--privileged"],
        "mount -t tmpfs x /tmp && grep ' /tmp tmpfs ' /proc/mounts >/dev/null && echo mounted",
    );
    assert_eq!(out, "mounted\n", "mount -t tmpfs with --privileged");

    // /proc/sys is read-only: host kernel settings stay out of reach.
    let (code, _, err) = run_sh(&d, &[], "echo 1 > /proc/sys/vm/drop_caches");
    assert_ne!(code, 0, "writing /proc/sys/vm/drop_caches worked");
    assert!(err.contains("Read-only file system"), "{err}");
    // /proc/sysrq-trigger (absent on some kernels) cannot be written.
    let (code, out, err) = run_sh(&d, &[], "echo h > /proc/sysrq-trigger && echo written");
    assert!(code != 0 && !out.contains("written"), "writing /proc/sysrq-trigger worked: {out}{err}");
    if Path::new("/proc/sysrq-trigger").exists() {
        assert!(err.contains("Read-only file system") || err.contains("Permission denied"), "{err}");
    } else {
        eprintln!("note: this kernel has no /proc/sysrq-trigger");
    }
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn capabilities_can_be_dropped_and_added() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let caps = |options: &[&str]| -> String { run_sh_ok(&d, options, "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status") };

    let none = caps(&["--cap-drop", "ALL"]);
    for field in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(none.contains(&format!("{field}:\t0000000000000000")), "{field} with --cap-drop ALL:\n{none}");
    }
    // CAP_CHOWN is bit 0.
    let chown = caps(&["--cap-drop", "ALL", "--cap-add", "CHOWN"]);
    assert!(chown.contains("CapEff:\t0000000000000001"), "CapEff with --cap-drop ALL --cap-add CHOWN:\n{chown}");
    // Docker's default set.
    let default = caps(&[]);
    assert!(
        default.contains("CapEff:\t00000000a80425fb"),
        "default CapEff (docker's default capability set is 00000000a80425fb):\n{default}"
    );

    // What the user notices: root without CAP_CHOWN cannot give files away.
    let script = "touch /tmp/f && chown 65534 /tmp/f && echo chowned";
    let (code, out, err) = run_sh(&d, &["--cap-drop", "ALL"], script);
    assert!(code != 0 && !out.contains("chowned"), "chown worked with --cap-drop ALL: {out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert_eq!(run_sh_ok(&d, &["--cap-drop", "ALL", "--cap-add", "CHOWN"], script), "chowned\n");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

// ---- docker run options ------------------------------------------------------

#[test]
fn read_only_root_with_a_writable_tmpfs() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let (code, _, err) = run_sh(&d, &["--read-only", "--tmpfs", "/run"], "touch /x");
    assert_ne!(code, 0, "writing / worked with --read-only");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(
        run_sh_ok(
            &d,
            &["--read-only", "--tmpfs", "/run"],
            "echo hi > /run/y && cat /run/y && grep ' /run tmpfs ' /proc/mounts >/dev/null && echo tmpfs"
        ),
        "hi\ntmpfs\n"
    );
    // Without --read-only the root file system is writable.
    assert_eq!(run_sh_ok(&d, &[], "touch /x && echo ok"), "ok\n", "writing / without --read-only");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn bind_mounts_read_write_read_only_and_with_mount() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let dir = d.scratch_dir().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("from-host"), "host data\n").unwrap();
    let src = dir.display().to_string();

    let out = run_sh_ok(
        &d,
        &["-v", &format!("{src}:/data")],
        "cat /data/from-host && echo container data > /data/from-container",
    );
    assert_eq!(out, "host data\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("from-container")).unwrap(),
        "container data\n",
        "a file written to a -v bind mount is not on the host"
    );

    let (code, out, err) =
        run_sh(&d, &["-v", &format!("{src}:/data:ro")], "cat /data/from-host && echo nope > /data/ro-write");
    assert_ne!(code, 0, "writing to a :ro bind mount worked");
    assert_eq!(out, "host data\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!dir.join("ro-write").exists());

    assert_eq!(
        run_sh_ok(
            &d,
            &["--mount", &format!("type=bind,src={src},dst=/m")],
            "cat /m/from-host && echo mounted > /m/via-mount"
        ),
        "host data\n"
    );
    assert!(dir.join("via-mount").exists());
    let (code, _, err) =
        run_sh(&d, &["--mount", &format!("type=bind,src={src},dst=/m,readonly")], "echo nope > /m/ro-write");
    assert_ne!(code, 0, "writing to a readonly --mount worked");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!dir.join("ro-write").exists());

    // Docker refuses a bind mount of a missing source with --mount.
    let out = d.docker(&["run", "--rm", "--mount", &format!("type=bind,src={src}/missing,dst=/m"), "busybox", "true"]);
    assert!(!out.status.success(), "--mount of a missing source succeeded");
    assert!(stderr_text(&out).contains("bind source path does not exist"), "{}", stderr_text(&out));
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn user_env_workdir_and_entrypoint() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    assert_eq!(run_sh_ok(&d, &[], "id -u"), "0\n", "default user");
    assert_eq!(run_sh_ok(&d, &["--user", "65534"], "id -u; id -g"), "65534\n65534\n", "--user 65534");
    assert_eq!(run_sh_ok(&d, &["--user", "nobody"], "id -u; id -g"), "65534\n65534\n", "--user nobody");
    assert_eq!(run_sh_ok(&d, &["--user", "65534:0"], "id -u; id -g"), "65534\n0\n", "--user 65534:0");
    // Not root any more: / belongs to root and is not writable.
    let (code, _, err) = run_sh(&d, &["--user", "nobody"], "touch /x");
    assert_ne!(code, 0, "nobody could write to /");
    assert!(err.contains("Permission denied"), "{err}");

    assert_eq!(
        run_sh_ok(&d, &["-e", "A=B", "-e", "EMPTY="], "echo \"$A|$EMPTY|$PATH\""),
        "B||/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    assert_eq!(run_sh_ok(&d, &["-w", "/tmp"], "pwd"), "/tmp\n");
    assert_eq!(run_sh_ok(&d, &["-w", "/new/dir"], "pwd"), "/new/dir\n", "docker creates a missing working directory");
    assert_eq!(run_sh_ok(&d, &[], "pwd"), "/\n", "default working directory");

    let out = d.docker(&["run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint"]);
    d.assert_exit("docker run --entrypoint echo busybox via entrypoint", &out, 0);
    assert_eq!(stdout_text(&out), "via entrypoint\n");
    let out = d.docker(&["run", "--rm", "--entrypoint", "/bin/sh", "busybox", "-c", "echo $0 $1", "zero", "one"]);
    d.assert_exit("docker run --entrypoint /bin/sh busybox -c …", &out, 0);
    assert_eq!(stdout_text(&out), "zero one\n");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn ulimits_and_init() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    assert_eq!(run_sh_ok(&d, &["--ulimit", "nofile=512:512"], "ulimit -n; ulimit -Hn"), "512\n512\n");
    assert_eq!(run_sh_ok(&d, &["--ulimit", "nofile=256:1024"], "ulimit -Sn; ulimit -Hn"), "256\n1024\n");

    // --init: an init process is PID 1, the command runs under it, and its
    // exit code is still the container's.
    let (code, out, err) = run_sh(&d, &["--init"], "ps -o pid,args; exit 5");
    assert_eq!(code, 5, "exit code with --init\n{out}{err}");
    let command_pid = out
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(char::is_whitespace))
        .find(|(_, args)| args.trim_start().starts_with("sh -c ps"))
        .map(|(pid, _)| pid.to_string())
        .unwrap_or_else(|| panic!("the command is not in ps:\n{out}"));
    assert_ne!(command_pid, "1", "with --init the command is PID 1:\n{out}");
    let (code, out, _) = run_sh(&d, &[], "ps -o pid,args; exit 5");
    assert_eq!(code, 5);
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sh -c ps")),
        "without --init the command is PID 1:\n{out}"
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}
