//! cgroup acceptance tests with the real `docker` CLI: the limits of
//! `docker run` land in the container's cgroup files, the kernel enforces
//! them, and removing a container removes its cgroup.
//!
//! They run on whatever layout the machine has, and CI runs them on both:
//! on the host (`cargo test`, a v1 or hybrid layout there) and in a
//! throwaway VM whose only hierarchy is cgroup v2 (`scripts/vm-test.sh`,
//! called by `scripts/test.sh`). Each value is read twice: from inside the
//! container (`docker exec … cat`, where the private cgroup namespace makes
//! the container's own cgroup the root of /sys/fs/cgroup) and from the host
//! (`/sys/fs/cgroup/kapsel/<id>/…` on v2, `<controller mount>/kapsel/<id>/…`
//! on v1).
//!
//! Each test runs its own daemon; containers need root (CI is root), so
//! every test returns early with a note when not run as root.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Daemon, running_as_root, stderr_text, stdout_text, wait_until};

/// The parent of every container cgroup, below each hierarchy's root.
const PARENT: &str = "kapsel";

/// The machine's cgroup layout, as kapsel sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// cgroup2 mounted at /sys/fs/cgroup: one unified tree.
    V2,
    /// One hierarchy per v1 controller (legacy, or hybrid with an
    /// extra controller-less cgroup2 mount).
    V1,
}

fn layout() -> Layout {
    let fs = nix::sys::statfs::statfs("/sys/fs/cgroup").expect("statfs /sys/fs/cgroup");
    if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC { Layout::V2 } else { Layout::V1 }
}

/// The host mount points of the v1 hierarchies with their controllers
/// (from /proc/self/mountinfo; named hierarchies such as name=systemd are
/// left out).
fn v1_hierarchies() -> Vec<(PathBuf, Vec<String>)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() != Some(&"cgroup") || fields.len() < 3 {
            continue;
        }
        let controllers: Vec<String> =
            fields[2].split(',').filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('=')).map(String::from).collect();
        if controllers.is_empty() {
            continue;
        }
        let mount = before.split_whitespace().nth(4).expect("mount point in mountinfo");
        found.push((PathBuf::from(mount), controllers));
    }
    found
}

/// The container's cgroup directory on the host for `controller` (v1; on
/// v2 every controller is in the same directory).
fn host_dir(id: &str, controller: &str) -> PathBuf {
    match layout() {
        Layout::V2 => Path::new("/sys/fs/cgroup").join(PARENT).join(id),
        Layout::V1 => {
            let (mount, _) = v1_hierarchies()
                .into_iter()
                .find(|(_, controllers)| controllers.iter().any(|c| c == controller))
                .unwrap_or_else(|| panic!("no v1 hierarchy carries the {controller} controller"));
            mount.join(PARENT).join(id)
        }
    }
}

/// Every directory the container's cgroup has on the host: one on v2, one
/// per v1 hierarchy.
fn host_dirs(id: &str) -> Vec<PathBuf> {
    match layout() {
        Layout::V2 => vec![Path::new("/sys/fs/cgroup").join(PARENT).join(id)],
        Layout::V1 => v1_hierarchies().into_iter().map(|(mount, _)| mount.join(PARENT).join(id)).collect(),
    }
}

/// Where a controller's `file` is inside the container: the container's
/// cgroup is the root of /sys/fs/cgroup there (v2), or of each
/// /sys/fs/cgroup/<controller> (v1).
fn inside_path(controller: &str, file: &str) -> String {
    match layout() {
        Layout::V2 => format!("/sys/fs/cgroup/{file}"),
        Layout::V1 => format!("/sys/fs/cgroup/{controller}/{file}"),
    }
}

/// `docker run -d --name NAME OPTIONS… busybox sleep 600`; returns the full
/// container ID.
fn run_detached(d: &Daemon, name: &str, options: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(options);
    args.extend(["busybox", "sleep", "600"]);
    d.docker_ok(&args);
    let id = d.inspect(name, "{{.Id}}");
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "container ID of {name}: {id:?}");
    id
}

/// Reads cgroup files from inside a running container with one `docker
/// exec`; returns (path, trimmed content) in the order asked.
fn read_inside(d: &Daemon, name: &str, paths: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["exec", name, "sh", "-c", "for f; do echo \"$f=$(cat \"$f\")\"; done", "sh"];
    args.extend_from_slice(paths);
    let out = d.docker(&args);
    d.assert_exit(&format!("docker exec {name} cat {paths:?}"), &out, 0);
    let text = stdout_text(&out);
    paths
        .iter()
        .map(|p| {
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{p}=")))
                .unwrap_or_else(|| panic!("{p} not read inside {name}:\n{text}\n{}", stderr_text(&out)));
            (p.to_string(), value.trim().to_string())
        })
        .collect()
}

/// One cgroup file of a container, read inside it.
fn inside(d: &Daemon, name: &str, controller: &str, file: &str) -> String {
    let path = inside_path(controller, file);
    read_inside(d, name, &[&path]).remove(0).1
}

/// One cgroup file of a container, read on the host.
fn on_host(id: &str, controller: &str, file: &str) -> String {
    let path = host_dir(id, controller).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {} on the host: {e}", path.display()))
        .trim()
        .to_string()
}

/// Asserts that `file` of the container holds `want`, inside the container
/// and on the host.
fn assert_cgroup_file(d: &Daemon, name: &str, id: &str, controller: &str, file: &str, want: &str) {
    let layout = layout();
    let seen_inside = inside(d, name, controller, file);
    assert_eq!(seen_inside, want, "{file} ({controller}) inside container {name}, {layout:?} layout");
    let seen_on_host = on_host(id, controller, file);
    assert_eq!(seen_on_host, want, "{file} ({controller}) of {name} on the host, {layout:?} layout");
}

/// `docker rm -f NAME`.
fn remove(d: &Daemon, name: &str) {
    d.docker_ok(&["rm", "-f", name]);
}

// ---- the layout ------------------------------------------------------------

#[test]
fn docker_info_reports_the_cgroup_version() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::start();
    let want = match layout() {
        Layout::V2 => "2",
        Layout::V1 => "1",
    };
    assert_eq!(d.docker_ok(&["info", "-f", "{{.CgroupVersion}}"]).trim(), want);
    // The limits kapsel enforces on both layouts are reported as available, as dockerd does.
    let template =
        "{{.MemoryLimit}} {{.SwapLimit}} {{.CPUCfsQuota}} {{.CPUCfsPeriod}} {{.CPUShares}} {{.CPUSet}} {{.PidsLimit}}";
    let features = d.docker_ok(&["info", "-f", template]);
    let swap_file = match layout() {
        Layout::V2 => true,
        Layout::V1 => v1_hierarchies().iter().any(|(mount, controllers)| {
            controllers.iter().any(|c| c == "memory") && mount.join("memory.memsw.limit_in_bytes").exists()
        }),
    };
    let want = format!("true {swap_file} true true true true true");
    assert_eq!(features.trim(), want);
}

// ---- memory ------------------------------------------------------------------

#[test]
fn memory_limit_is_in_the_cgroup() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "mem", &["-m", "64m"]);
    let file = match layout() {
        Layout::V2 => "memory.max",
        Layout::V1 => "memory.limit_in_bytes",
    };
    assert_cgroup_file(&d, "mem", &id, "memory", file, "67108864");
    assert_eq!(d.inspect("mem", "{{.HostConfig.Memory}}"), "67108864");
    remove(&d, "mem");
}

#[test]
fn without_memory_swap_swap_is_as_much_as_memory_as_docker_does() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // Docker's default for `-m M` alone is --memory-swap 2M: M of memory
    // plus M of swap. cgroup v2 limits swap alone (memory.swap.max = M), v1
    // memory plus swap (memory.memsw.limit_in_bytes = 2M).
    let id = run_detached(&d, "swap", &["-m", "64m"]);
    let (file, want) = match layout() {
        Layout::V2 => ("memory.swap.max", "67108864"),
        Layout::V1 => ("memory.memsw.limit_in_bytes", "134217728"),
    };
    if host_dir(&id, "memory").join(file).exists() {
        assert_cgroup_file(&d, "swap", &id, "memory", file, want);
        assert_eq!(d.inspect("swap", "{{.HostConfig.MemorySwap}}"), "134217728");
    } else {
        eprintln!("note: no swap accounting on this kernel ({file} missing): swap limit not checked");
    }
    remove(&d, "swap");
}

#[test]
fn memory_swap_and_reservation_options_reach_the_cgroup() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let v2 = layout() == Layout::V2;
    // (options, file, value) — v2 limits swap alone, v1 memory plus swap.
    let cases: [(&[&str], &str, &str); 3] = if v2 {
        [
            (&["-m", "32m", "--memory-swap", "32m"], "memory.swap.max", "0"),
            (&["-m", "32m", "--memory-swap", "-1"], "memory.swap.max", "max"),
            (&["-m", "32m", "--memory-reservation", "16m"], "memory.low", "16777216"),
        ]
    } else {
        [
            (&["-m", "32m", "--memory-swap", "32m"], "memory.memsw.limit_in_bytes", "33554432"),
            // v1's "unlimited", as the kernel reports it (PAGE_COUNTER_MAX pages of 4 KiB).
            (&["-m", "32m", "--memory-swap", "-1"], "memory.memsw.limit_in_bytes", "9223372036854771712"),
            (&["-m", "32m", "--memory-reservation", "16m"], "memory.soft_limit_in_bytes", "16777216"),
        ]
    };
    for (i, (options, file, want)) in cases.iter().enumerate() {
        let name = format!("mem{i}");
        let id = run_detached(&d, &name, options);
        if file.contains("swap") && !host_dir(&id, "memory").join(file).exists() {
            eprintln!("note: no swap accounting on this kernel ({file} missing): {options:?} not checked");
        } else {
            assert_cgroup_file(&d, &name, &id, "memory", file, want);
        }
        let memory_max = if v2 { "memory.max" } else { "memory.limit_in_bytes" };
        assert_eq!(on_host(&id, "memory", memory_max), "33554432", "{memory_max} with {options:?}");
        remove(&d, &name);
    }
}

#[test]
fn a_memory_hog_is_oom_killed() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // Doubles a string up to 256 MiB: far beyond 32m, yet bounded so a
    // missing limit fails the test instead of exhausting the machine.
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
    assert_eq!(d.inspect("hog", "{{.State.OOMKilled}}"), "true");
    assert_eq!(d.inspect("hog", "{{.State.ExitCode}}"), "137");
    remove(&d, "hog");
}

// ---- pids ------------------------------------------------------------------------

#[test]
fn pids_limit_is_in_the_cgroup_and_stops_a_fork_bomb() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "pids", &["--pids-limit", "20"]);
    assert_cgroup_file(&d, "pids", &id, "pids", "pids.max", "20");
    remove(&d, "pids");

    // 60 background sleeps: fine without a limit, too many with 20.
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); done; wait; echo all-forked",
    ]);
    let (stdout, stderr) = (stdout_text(&out), stderr_text(&out));
    assert!(
        stderr.contains("can't fork"),
        "no fork failed under --pids-limit 20 ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(!stdout.contains("all-forked"), "{stdout}");
    assert!(!out.status.success(), "the fork bomb under --pids-limit 20 exited 0");
}

// ---- cpu -------------------------------------------------------------------------

#[test]
fn cpus_is_a_cfs_quota_per_100ms_period() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "half", &["--cpus", "0.5"]);
    match layout() {
        Layout::V2 => assert_cgroup_file(&d, "half", &id, "cpu", "cpu.max", "50000 100000"),
        Layout::V1 => {
            assert_cgroup_file(&d, "half", &id, "cpu", "cpu.cfs_quota_us", "50000");
            assert_cgroup_file(&d, "half", &id, "cpu", "cpu.cfs_period_us", "100000");
        }
    }
    remove(&d, "half");
}

#[test]
fn cpu_shares_become_the_cpu_weight() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // v2 has no shares: 1024 (v1's default) maps to cpu.weight 100 (v2's).
    let id = run_detached(&d, "shares", &["--cpu-shares", "1024"]);
    match layout() {
        Layout::V2 => assert_cgroup_file(&d, "shares", &id, "cpu", "cpu.weight", "100"),
        Layout::V1 => assert_cgroup_file(&d, "shares", &id, "cpu", "cpu.shares", "1024"),
    }
    remove(&d, "shares");
}

#[test]
fn cpu_quota_period_and_cpuset_reach_the_cgroup() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "cpus", &["--cpu-quota", "25000", "--cpu-period", "50000", "--cpuset-cpus", "0"]);
    match layout() {
        Layout::V2 => assert_cgroup_file(&d, "cpus", &id, "cpu", "cpu.max", "25000 50000"),
        Layout::V1 => {
            assert_cgroup_file(&d, "cpus", &id, "cpu", "cpu.cfs_quota_us", "25000");
            assert_cgroup_file(&d, "cpus", &id, "cpu", "cpu.cfs_period_us", "50000");
        }
    }
    assert_cgroup_file(&d, "cpus", &id, "cpuset", "cpuset.cpus", "0");
    // The kernel agrees: the container's processes may run on CPU 0 only.
    let out = d.docker_ok(&["exec", "cpus", "grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert_eq!(out.split_whitespace().last(), Some("0"), "{out}");
    remove(&d, "cpus");
}

// ---- the cgroup's life -------------------------------------------------------------

#[test]
fn removing_a_container_removes_its_cgroup() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "gone", &["-m", "64m", "--pids-limit", "50", "--cpus", "0.5"]);
    let dirs = host_dirs(&id);
    assert!(!dirs.is_empty());
    for dir in &dirs {
        assert!(dir.is_dir(), "the running container has no cgroup {}", dir.display());
    }
    // The container's init is in it.
    let pid = d.inspect("gone", "{{.State.Pid}}");
    let procs = on_host(&id, "pids", "cgroup.procs");
    assert!(procs.lines().any(|l| l == pid), "PID {pid} of the container is not in its cgroup.procs: {procs:?}");

    remove(&d, "gone");
    let left: Vec<String> = dirs.iter().filter(|dir| dir.exists()).map(|dir| dir.display().to_string()).collect();
    assert!(left.is_empty(), "`docker rm -f` left the cgroup of {id}:\n{}", left.join("\n"));

    // A container that ran to its end and was removed leaves nothing either.
    d.docker_ok(&["run", "--name", "short", "-m", "64m", "busybox", "true"]);
    let id = d.inspect("short", "{{.Id}}");
    remove(&d, "short");
    let left: Vec<String> =
        host_dirs(&id).iter().filter(|dir| dir.exists()).map(|dir| dir.display().to_string()).collect();
    assert!(left.is_empty(), "removing an exited container left its cgroup:\n{}", left.join("\n"));
}

// ---- docker exec ---------------------------------------------------------------------

#[test]
fn exec_processes_join_the_container_cgroup_and_its_limits() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let id = run_detached(&d, "ex", &["-m", "64m", "--pids-limit", "30"]);
    // Inside, the exec'd shell is in the root of the container's cgroup
    // namespace, and it is listed in the container's cgroup.procs.
    let procs = inside_path("pids", "cgroup.procs");
    let script = format!("cat /proc/self/cgroup; grep -qx $$ {procs} && echo joined");
    let out = d.docker_ok(&["exec", "ex", "sh", "-c", &script]);
    assert!(out.lines().any(|l| l == "joined"), "the exec'd shell is not in {procs}:\n{out}");
    match layout() {
        Layout::V2 => assert!(out.lines().any(|l| l == "0::/"), "/proc/self/cgroup of an exec'd process:\n{out}"),
        Layout::V1 => {
            assert!(out.lines().any(|l| l.ends_with(":pids:/")), "/proc/self/cgroup of an exec'd process:\n{out}")
        }
    }
    // On the host, a long-running exec'd process is in the container's cgroup.
    d.docker_ok(&["exec", "-d", "ex", "sleep", "300"]);
    let before = on_host(&id, "pids", "cgroup.procs").lines().count();
    assert!(before >= 2, "the cgroup.procs of ex on the host has {before} processes, want init and sleep");
    // An exec'd memory hog is OOM-killed inside the container's limit.
    let out = d.docker(&[
        "exec",
        "ex",
        "sh",
        "-c",
        "x=0123456789abcdef; i=0; while [ $i -lt 24 ]; do x=\"$x$x\"; i=$((i+1)); done; echo survived",
    ]);
    assert!(!stdout_text(&out).contains("survived"), "an exec'd shell using 256 MiB survived -m 64m");
    d.assert_exit("docker exec ex <memory hog>", &out, 137);
    remove(&d, "ex");
    assert!(
        wait_until(Duration::from_secs(10), || host_dirs(&id).iter().all(|dir| !dir.exists())),
        "`docker rm -f` of a container with exec'd processes left its cgroup"
    );
}

// ---- docker stats, pause/unpause, update --------------------------------------------
//
// To come, on both layouts like the tests above: `docker stats --no-stream`
// (memory usage and limit from the cgroup), `docker pause` (freezer v1,
// cgroup.freeze v2), `docker update` (limits rewritten in place).
