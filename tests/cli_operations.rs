//! Day-two operations with the real `docker` CLI (and the Python SDK): `docker stats`,
//! `docker top`, `docker pause`/`unpause` (and stopping, killing or removing a paused
//! container), and `docker update`.
//!
//! Each test runs its own daemon; containers need root (CI is root), so every test returns
//! early with a note when not run as root.

mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Daemon, running_as_root, stderr_text, stdout_text, wait_until};

/// Removes every container when dropped, also when the test fails half-way, so that no
/// spinning container outlives its daemon.
struct RemoveAll<'a>(&'a Daemon);

impl Drop for RemoveAll<'_> {
    fn drop(&mut self) {
        let out = self.0.docker(&["ps", "-aq"]);
        let ids = stdout_text(&out);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.0.docker(&args);
        }
    }
}

/// True on a cgroup v2 (unified) host.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// `docker exec NAME sh -c SCRIPT`'s stdout, trimmed.
fn exec_sh(d: &Daemon, name: &str, script: &str) -> String {
    d.docker_ok(&["exec", name, "sh", "-c", script]).trim().to_string()
}

/// The CPU % `docker stats --no-stream` shows for one container.
fn cpu_percent(d: &Daemon, name: &str) -> f64 {
    let out = d.docker_ok(&["stats", "--no-stream", "--format", "{{.CPUPerc}}", name]);
    out.trim().trim_end_matches('%').parse().unwrap_or_else(|_| panic!("CPU % of {name}: {out:?}"))
}

// ---- docker stats ---------------------------------------------------------

#[test]
fn stats_shows_memory_cpu_and_pids_and_the_api_modes() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    d.docker_ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);

    let table = d.docker_ok(&["stats", "--no-stream", "idle"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.contains("CPU %") && header.contains("MEM USAGE / LIMIT"), "{table}");
    let row = lines.next().unwrap_or_default();
    assert!(row.contains("idle") && row.contains('%'), "{table}");

    let out =
        d.docker_ok(&["stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "idle"]);
    let fields: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(fields.len(), 4, "{out}");
    assert_eq!(fields[0], "idle");
    assert!(fields[1].ends_with('%'), "CPU %: {out}");
    let (usage, limit) = fields[2].split_once(" / ").unwrap_or_else(|| panic!("MEM USAGE / LIMIT: {out}"));
    assert!(usage != "0B" && usage.ends_with('B'), "a memory figure: {out}");
    assert!(limit.ends_with("iB"), "the limit is the host's memory: {out}");
    assert_eq!(fields[3], "1", "PIDS: {out}");

    // stream=0: two samples a second apart, so precpu_stats is filled.
    let started = Instant::now();
    let reply = d.get("/containers/idle/stats?stream=0");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(started.elapsed() >= Duration::from_millis(900), "stream=0 takes two samples a second apart");
    let stats = reply.json();
    assert_eq!(stats["name"], "/idle");
    assert!(stats["memory_stats"]["usage"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert!(stats["memory_stats"]["limit"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert!(stats["precpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert!(stats["cpu_stats"]["online_cpus"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert_eq!(stats["pids_stats"]["current"], 1, "{stats}");
    assert!(stats["networks"].is_object(), "{stats}");
    assert_ne!(stats["preread"], "0001-01-01T00:00:00Z", "{stats}");

    // one-shot: one sample, precpu_stats zeroed.
    let stats = d.get("/containers/idle/stats?stream=0&one-shot=1").json();
    assert_eq!(stats["precpu_stats"]["cpu_usage"]["total_usage"], 0, "{stats}");
    assert!(stats["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap_or(0) > 0, "{stats}");
    let reply = d.get("/containers/idle/stats?stream=1&one-shot=1");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(d.get("/containers/nope/stats?stream=0").status, 404);

    // A stopped container gives one sample of zeros, as dockerd does.
    d.docker_ok(&["stop", "-t", "0", "idle"]);
    let stats = d.get("/containers/idle/stats?stream=0").json();
    assert_eq!(stats["name"], "/idle");
    assert_eq!(stats["read"], "0001-01-01T00:00:00Z", "{stats}");
    assert_eq!(stats["cpu_stats"]["cpu_usage"]["total_usage"], 0, "{stats}");
    assert!(stats.get("networks").is_none(), "{stats}");
}

#[test]
fn stats_cpu_percent_of_a_spinning_container_follows_its_cpu_limit() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    let spin = ["busybox", "sh", "-c", "while :; do :; done"];
    d.docker_ok(&[&["run", "-d", "--name", "spin"][..], &spin[..]].concat());
    let pid: i32 = d.inspect("spin", "{{.State.Pid}}").parse().expect("the spinning container's pid");
    thread::sleep(Duration::from_millis(300));

    // One CPU's worth is 100%. The best of a few readings must reach half of it; on a machine
    // so busy that the scheduler gives the container less, the reading must at least agree
    // with the CPU time the kernel counted for the process meanwhile.
    let mut best = 0.0f64;
    let mut measured = 0.0f64;
    for _ in 0..4 {
        let (before, started) = (process_cpu_seconds(pid), Instant::now());
        let reading = cpu_percent(&d, "spin");
        let share = (process_cpu_seconds(pid) - before) / started.elapsed().as_secs_f64() * 100.0;
        if reading > best {
            (best, measured) = (reading, share);
        }
        if best >= 50.0 {
            break;
        }
    }
    assert!(
        best >= 50.0 || (best >= 15.0 && (best - measured).abs() <= 20.0),
        "a spinning container showed at most {best}% CPU, while it got {measured:.1}% of a CPU"
    );
    d.docker_ok(&["rm", "-f", "spin"]);

    d.docker_ok(&[&["run", "-d", "--name", "capped", "--cpus", "0.5"][..], &spin[..]].concat());
    thread::sleep(Duration::from_millis(300));
    let capped = cpu_percent(&d, "capped");
    assert!(capped > 0.0 && capped <= 60.0, "a container limited to --cpus 0.5 showed {capped}% CPU");
}

/// The user plus system CPU time of a host process so far, in seconds (/proc/<pid>/stat).
fn process_cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // Fields 14 and 15 of the line; the 12th and 13th after the name.
    let ticks: Vec<f64> = after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks.iter().sum::<f64>() / per_second
}

// ---- docker top -----------------------------------------------------------

#[test]
fn top_lists_the_container_processes_by_host_pid() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    d.docker_ok(&["run", "-d", "--name", "tp", "busybox", "sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    let pid = d.inspect("tp", "{{.State.Pid}}");
    assert!(wait_until(Duration::from_secs(10), || d.docker_ok(&["top", "tp"]).contains("sleep 1002")));

    let out = d.docker_ok(&["top", "tp"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.contains("PID") && header.contains("CMD"), "{out}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "sh and two sleeps, nothing of the host:\n{out}");
    assert!(rows.iter().any(|r| r.contains("sleep 1001")) && rows.iter().any(|r| r.contains("sleep 1002")), "{out}");
    assert!(rows.iter().any(|r| r.split_whitespace().nth(1) == Some(pid.as_str())), "host pid {pid} of init:\n{out}");

    let out = d.docker_ok(&["top", "tp", "-o", "pid,comm"]);
    assert_eq!(out.lines().next().unwrap_or_default().split_whitespace().collect::<Vec<_>>(), ["PID", "COMMAND"]);
    assert_eq!(out.lines().count(), 4, "{out}");

    let top = d.get("/containers/tp/top?ps_args=aux").json();
    assert!(top["Titles"].as_array().is_some_and(|t| t.iter().any(|t| t == "%CPU")), "{top}");
    assert_eq!(top["Processes"].as_array().map(Vec::len), Some(3), "{top}");

    d.docker_ok(&["kill", "tp"]);
    d.docker_ok(&["wait", "tp"]);
    let out = d.docker(&["top", "tp"]);
    d.assert_exit("docker top of a stopped container", &out, 1);
    assert!(stderr_text(&out).contains("is not running"), "{}", stderr_text(&out));
}

// ---- docker pause / unpause ------------------------------------------------

#[test]
fn pause_freezes_the_container_and_unpause_resumes_it() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    let counter = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done";
    d.docker_ok(&["run", "-d", "--name", "ctr", "busybox", "sh", "-c", counter]);
    let count = || exec_sh(&d, "ctr", "cat /tmp/count").parse::<u64>().unwrap_or(0);
    assert!(wait_until(Duration::from_secs(10), || count() >= 3), "the counter does not advance");

    d.docker_ok(&["pause", "ctr"]);
    let state = d.container_state("ctr");
    assert_eq!(state["Status"], "paused", "{state}");
    assert_eq!(state["Paused"], true, "{state}");
    assert_eq!(state["Running"], true, "{state}");
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("ctr Up") && ps.contains("(Paused)"), "{ps}");

    // Frozen: the counter, read from the host through the container's root, stands still.
    let pid = d.inspect("ctr", "{{.State.Pid}}");
    let file = format!("/proc/{pid}/root/tmp/count");
    let read = || std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}")).trim().to_string();
    let frozen = read();
    thread::sleep(Duration::from_secs(1));
    assert_eq!(read(), frozen, "the counter advanced while paused");

    let out = d.docker(&["exec", "ctr", "true"]);
    d.assert_exit("docker exec in a paused container", &out, 1);
    assert!(stderr_text(&out).contains("is paused"), "{}", stderr_text(&out));
    let out = d.docker(&["pause", "ctr"]);
    d.assert_exit("docker pause of a paused container", &out, 1);
    assert!(stderr_text(&out).contains("is already paused"), "{}", stderr_text(&out));

    d.docker_ok(&["unpause", "ctr"]);
    assert_eq!(d.container_state("ctr")["Status"], "running");
    let resumed: u64 = frozen.parse().unwrap_or(0);
    assert!(wait_until(Duration::from_secs(10), || count() >= resumed + 3), "the counter did not resume");
    let out = d.docker(&["unpause", "ctr"]);
    d.assert_exit("docker unpause of a running container", &out, 1);
    assert!(stderr_text(&out).contains("is not paused"), "{}", stderr_text(&out));

    let events = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string(),
        "--filter",
        "container=ctr",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    assert!(actions.contains(&"pause") && actions.contains(&"unpause"), "{events}");

    d.docker_ok(&["create", "--name", "never", "busybox", "true"]);
    let out = d.docker(&["pause", "never"]);
    d.assert_exit("docker pause of a created container", &out, 1);
    assert!(stderr_text(&out).contains("is not running"), "{}", stderr_text(&out));
}

#[test]
fn a_paused_container_can_be_stopped_killed_and_removed() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    let trap = "trap 'exit 3' TERM; while :; do sleep 0.1; done";
    d.docker_ok(&["run", "-d", "--name", "st", "busybox", "sh", "-c", trap]);
    d.docker_ok(&["run", "-d", "--name", "kl", "busybox", "sleep", "1000"]);
    d.docker_ok(&["run", "-d", "--name", "rm", "busybox", "sleep", "1000"]);
    thread::sleep(Duration::from_millis(300));
    for name in ["st", "kl", "rm"] {
        d.docker_ok(&["pause", name]);
    }

    // stop: SIGTERM reaches the trap once the container is thawed.
    let started = Instant::now();
    d.docker_ok(&["stop", "-t", "8", "st"]);
    assert!(started.elapsed() < Duration::from_secs(6), "stop waited for the timeout: the signal was not delivered");
    let state = d.container_state("st");
    assert_eq!((state["Status"].as_str(), state["ExitCode"].as_i64()), (Some("exited"), Some(3)), "{state}");

    d.docker_ok(&["kill", "kl"]);
    d.docker_ok(&["wait", "kl"]);
    let state = d.container_state("kl");
    assert_eq!((state["Status"].as_str(), state["ExitCode"].as_i64()), (Some("exited"), Some(137)), "{state}");

    d.docker_ok(&["rm", "-f", "rm"]);
    let out = d.docker(&["inspect", "rm"]);
    d.assert_exit("docker inspect of a removed container", &out, 1);
}

// ---- docker update ----------------------------------------------------------

#[test]
fn update_changes_limits_at_once_and_keeps_them() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    let (memory_file, pids_file) = if cgroup_v2() {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max")
    } else {
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max")
    };
    let cpu_quota = |d: &Daemon, name: &str| {
        if cgroup_v2() {
            exec_sh(d, name, "cut -d' ' -f1 /sys/fs/cgroup/cpu.max")
        } else {
            exec_sh(d, name, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        }
    };
    d.docker_ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);

    assert_eq!(d.docker_ok(&["update", "--memory", "64m", "up"]).trim(), "up");
    assert_eq!(exec_sh(&d, "up", &format!("cat {memory_file}")), "67108864");
    assert_eq!(d.inspect("up", "{{.HostConfig.Memory}}"), "67108864");

    d.docker_ok(&["update", "--cpus", "0.5", "--pids-limit", "20", "--restart", "on-failure:3", "up"]);
    assert_eq!(cpu_quota(&d, "up"), "50000");
    assert_eq!(exec_sh(&d, "up", &format!("cat {pids_file}")), "20");
    assert_eq!(d.inspect("up", "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"), "500000000 20");
    assert_eq!(
        d.inspect("up", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "on-failure:3"
    );

    // dockerd's refusals.
    let out = d.docker(&["update", "--memory", "1k", "up"]);
    d.assert_exit("docker update --memory 1k", &out, 1);
    assert!(stderr_text(&out).contains("Minimum memory limit allowed is 6MB"), "{}", stderr_text(&out));
    let out = d.docker(&["update", "--cpu-quota", "20000", "up"]);
    d.assert_exit("docker update --cpu-quota after --cpus", &out, 1);
    assert!(stderr_text(&out).contains("Conflicting options"), "{}", stderr_text(&out));
    let out = d.docker(&["update", "--memory", "64m", "nope"]);
    d.assert_exit("docker update of an unknown container", &out, 1);

    // A stopped container keeps the new limits for its next start.
    d.docker_ok(&["create", "--name", "later", "busybox", "sleep", "1000"]);
    d.docker_ok(&["update", "--memory", "32m", "later"]);
    d.docker_ok(&["start", "later"]);
    assert_eq!(exec_sh(&d, "later", &format!("cat {memory_file}")), "33554432");
}

// ---- the Python SDK -------------------------------------------------------------

#[test]
fn python_sdk_stats_top_pause_and_update() {
    if !running_as_root() {
        return;
    }
    let has_sdk = Command::new("python3").args(["-c", "import docker"]).output().is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!("note: skipped, the Python docker SDK is not installed");
        return;
    }
    let d = Daemon::with_busybox();
    let _cleanup = RemoveAll(&d);
    d.docker_ok(&["run", "-d", "--name", "py", "busybox", "sleep", "1000"]);
    let script = r#"
import docker
c = docker.from_env().containers.get("py")
s = c.stats(stream=False)
assert isinstance(s, dict) and "memory_stats" in s, s
assert s["memory_stats"]["usage"] > 0, s
assert s["precpu_stats"]["system_cpu_usage"] > 0, s
one = c.stats(stream=False, one_shot=True)
assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0, one
stream = c.stats(stream=True, decode=True)
assert next(stream)["name"] == "/py"
top = c.top()
assert any("sleep 1000" in " ".join(p) for p in top["Processes"]), top
c.pause(); c.reload(); assert c.status == "paused", c.status
c.unpause(); c.reload(); assert c.status == "running", c.status
c.update(mem_limit="48m", cpu_shares=512); c.reload()
assert c.attrs["HostConfig"]["Memory"] == 48 * 1024 * 1024, c.attrs["HostConfig"]
assert c.attrs["HostConfig"]["CpuShares"] == 512, c.attrs["HostConfig"]
print("ok")
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script);
    d.docker_env(&mut cmd);
    let out = common::run(cmd, None);
    d.assert_success("the Python SDK script", &out);
    assert_eq!(stdout_text(&out).trim(), "ok");
}
