//! "Containers that really run" acceptance tests with the real `docker` CLI:
//! `docker run` and the container lifecycle (logs, stop, kill, restart,
//! wait, rm, rename, ps), a daemon crash with containers running, and what
//! is left on the host afterwards. What happens inside a container
//! (isolation, limits, run options) is in `cli_containers_inside.rs`.
//!
//! Each test runs its own daemon; containers need root (CI is root), so
//! every test returns early with a note when not run as root.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Daemon, running_as_root, stderr_text, stdout_text, wait_until};

/// The full ID of a container.
fn full_id(d: &Daemon, name: &str) -> String {
    let id = d.inspect(name, "{{.Id}}");
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "container ID of {name}: {id:?}");
    id
}

/// Non-empty output lines, sorted (for set comparisons).
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    lines.sort();
    lines
}

// ---- docker run ---------------------------------------------------------

#[test]
fn run_prints_output_passes_exit_codes_and_keeps_streams_apart() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    let out = d.docker(&["run", "--rm", "busybox", "echo", "hello"]);
    d.assert_exit("docker run --rm busybox echo hello", &out, 0);
    assert_eq!(stdout_text(&out), "hello\n");

    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    d.assert_exit("docker run --rm busybox sh -c 'exit 3'", &out, 3);

    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo to-stdout; echo to-stderr >&2"]);
    d.assert_exit("docker run (stdout and stderr)", &out, 0);
    assert_eq!(stdout_text(&out), "to-stdout\n", "the CLI's stdout");
    assert_eq!(stderr_text(&out), "to-stderr\n", "the CLI's stderr");

    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    d.assert_exit("echo x | docker run -i --rm busybox cat", &out, 0);
    assert_eq!(stdout_text(&out), "x\n");

    // More input than a pipe holds (~109 kB) reaches a command that only
    // starts reading after the CLI has sent everything and closed stdin:
    // nothing may be dropped at end of input.
    let input: String = (0..20000).map(|i| format!("{i}\n")).collect();
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "sh", "-c", "sleep 2; wc -l"], input.as_bytes());
    d.assert_exit("seq 0 19999 | docker run -i --rm busybox sh -c 'sleep 2; wc -l'", &out, 0);
    assert_eq!(stdout_text(&out).trim(), "20000", "lines that reached a slow reader through docker run -i");

    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "--rm containers are still listed");
}

#[test]
fn run_with_t_gets_a_pseudo_terminal() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // `script` gives the CLI a terminal, as a user's shell would have.
    let out = d.shell(r#"script -qec "docker run -t --rm busybox sh -c 'test -t 0 && echo is-a-tty; tty'" /dev/null"#);
    d.assert_exit("script -qec 'docker run -t …'", &out, 0);
    let text = stdout_text(&out).replace('\r', "");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.contains(&"is-a-tty"), "stdin of `docker run -t` is not a terminal:\n{text}");
    assert!(
        lines.iter().any(|l| l
            .strip_prefix("/dev/pts/")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))),
        "`tty` inside `docker run -t` should print a /dev/pts/N path:\n{text}"
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn run_unknown_command_exits_127_and_leaves_no_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    d.assert_exit("docker run --rm busybox nosuchcmd", &out, 127);
    let err = stderr_text(&out);
    assert!(err.contains("executable file not found"), "the error should say the executable was not found:\n{err}");
    assert!(err.contains("nosuchcmd"), "the error should name it:\n{err}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "a failed `docker run --rm` left a container behind");
}

// ---- logs -----------------------------------------------------------------

#[test]
fn logs_follow_ends_when_the_container_exits() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "three-lines",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.4; done",
    ]);
    let started = Instant::now();
    let out = d.docker(&["logs", "-f", "three-lines"]);
    d.assert_exit("docker logs -f three-lines", &out, 0);
    assert_eq!(stdout_text(&out), "line1\nline2\nline3\n");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "docker logs -f took {:?} after the container exited",
        started.elapsed()
    );
    assert_eq!(d.inspect("three-lines", "{{.State.Status}}"), "exited");
    d.remove_all_containers();
}

#[test]
fn logs_tail_since_until_and_timestamps() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "two-phases",
        "busybox",
        "sh",
        "-c",
        "echo a1; echo a2; echo e1 >&2; sleep 1.5; echo b1; echo b2",
    ]);
    d.wait_for_logs("two-phases", "a2", Duration::from_secs(20));
    thread::sleep(Duration::from_millis(500));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let middle = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let out = d.docker(&["wait", "two-phases"]);
    d.assert_exit("docker wait two-phases", &out, 0);
    assert_eq!(stdout_text(&out).trim(), "0");

    // stdout and stderr stay separate in `docker logs` too.
    let out = d.docker(&["logs", "two-phases"]);
    d.assert_exit("docker logs two-phases", &out, 0);
    assert_eq!(stdout_text(&out), "a1\na2\nb1\nb2\n");
    assert_eq!(stderr_text(&out), "e1\n");

    let out = d.docker(&["logs", "--tail", "1", "two-phases"]);
    assert_eq!(stdout_text(&out), "b2\n", "docker logs --tail 1");
    let out = d.docker(&["logs", "--tail", "2", "two-phases"]);
    assert_eq!(format!("{}{}", stdout_text(&out), stderr_text(&out)), "b1\nb2\n", "docker logs --tail 2");
    assert_eq!(d.docker_ok(&["logs", "--since", &middle, "two-phases"]), "b1\nb2\n", "docker logs --since {middle}");
    let out = d.docker(&["logs", "--until", &middle, "two-phases"]);
    assert_eq!(stdout_text(&out), "a1\na2\n", "docker logs --until {middle}");
    assert_eq!(stderr_text(&out), "e1\n", "docker logs --until {middle}");

    let out = d.docker_ok(&["logs", "-t", "two-phases"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "docker logs -t:\n{out}");
    let mut previous = String::new();
    for (line, text) in lines.iter().zip(["a1", "a2", "b1", "b2"]) {
        let (stamp, rest) = line.split_once(' ').unwrap_or_else(|| panic!("no timestamp in {line:?}"));
        assert_eq!(rest, text, "docker logs -t line {line:?}");
        // RFC 3339 in UTC with nanoseconds: 2024-01-02T03:04:05.123456789Z
        assert!(
            stamp.len() >= 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z'),
            "timestamp {stamp:?} is not RFC 3339 UTC"
        );
        assert!(stamp.starts_with(&current_utc_year_prefix()), "timestamp {stamp:?} is not from around now");
        assert!(*stamp >= *previous.as_str(), "timestamps go backwards:\n{out}");
        previous = stamp.to_string();
    }
    d.remove_all_containers();
}

/// The current UTC year as docker prints it in timestamps ("2025-").
fn current_utc_year_prefix() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-"]).output().expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn logs_rotate_with_max_size_and_max_file() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 2000 ]; do echo \"line number $i\"; i=$((i+1)); done",
    ]);
    assert_eq!(d.docker_ok(&["wait", "chatty"]).trim(), "0");
    let log_path = d.inspect("chatty", "{{.LogPath}}");
    let dir = Path::new(&log_path).parent().unwrap_or_else(|| panic!("LogPath {log_path:?} has no directory"));
    let mut logs: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    logs.sort();
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names == ["container.log", "container.log.1"] || names == ["container.log"],
        "with max-file=2 the container dir should hold container.log and container.log.1 at most, found {logs:?}"
    );
    assert!(names.len() == 2, "40 kB of output with max-size=1k did not rotate: {logs:?}");
    for (name, size) in &logs {
        // One line of slack over max-size (rotation happens between lines).
        assert!(*size <= 4096, "{name} is {size} bytes with max-size=1k: {logs:?}");
    }

    let out = d.docker_ok(&["logs", "chatty"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("line number 1999"),
        "docker logs after rotation should end with the newest line:\n{out}"
    );
    assert!(!lines.contains(&"line number 0"), "the oldest lines should have been rotated away:\n{out}");
    // What is kept is consecutive: no line lost or duplicated in between.
    let numbers: Vec<u32> = lines
        .iter()
        .map(|l| {
            l.strip_prefix("line number ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?}"))
        })
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "docker logs after rotation is not consecutive:\n{out}");
    assert_eq!(d.docker_ok(&["logs", "--tail", "1", "chatty"]), "line number 1999\n");
    d.remove_all_containers();
}

// ---- stop, kill, restart, wait, rm, rename -------------------------------

#[test]
fn stop_runs_the_term_trap_and_kills_after_the_timeout() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    d.wait_for_logs("polite", "ready", Duration::from_secs(20));
    let started = Instant::now();
    let out = d.docker(&["stop", "polite"]);
    d.assert_exit("docker stop polite", &out, 0);
    assert_eq!(stdout_text(&out).trim(), "polite");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "docker stop of a container that exits on TERM took {:?}",
        started.elapsed()
    );
    let state = d.container_state("polite");
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["ExitCode"], 7, "{state}");
    assert!(d.docker_ok(&["logs", "polite"]).contains("got TERM"), "the TERM trap did not run");

    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    d.wait_for_logs("stubborn", "ready", Duration::from_secs(20));
    let started = Instant::now();
    let out = d.docker(&["stop", "-t", "1", "stubborn"]);
    let took = started.elapsed();
    d.assert_exit("docker stop -t 1 stubborn", &out, 0);
    assert!(
        took >= Duration::from_secs(1),
        "docker stop -t 1 of a container ignoring TERM returned after {took:?}: it did not wait for the timeout"
    );
    assert!(
        took < Duration::from_secs(10),
        "docker stop -t 1 took {took:?}: the container was not killed after the timeout"
    );
    let state = d.container_state("stubborn");
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["Running"], false, "{state}");
    assert_eq!(state["ExitCode"], 137, "{state}");
    d.remove_all_containers();
}

#[test]
fn kill_restart_wait_rm_and_rename() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    // docker kill -s HUP reaches the process's trap; it keeps running.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hangup",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got HUP' HUP; echo ready; while true; do sleep 0.1; done",
    ]);
    d.wait_for_logs("hangup", "ready", Duration::from_secs(20));
    assert_eq!(d.docker_ok(&["kill", "-s", "HUP", "hangup"]).trim(), "hangup");
    d.wait_for_logs("hangup", "got HUP", Duration::from_secs(20));
    let before = d.container_state("hangup");
    assert_eq!(before["Running"], true, "HUP ended the container: {before}");

    // docker restart: running again, with a new StartedAt.
    thread::sleep(Duration::from_millis(50));
    assert_eq!(d.docker_ok(&["restart", "-t", "1", "hangup"]).trim(), "hangup");
    let after = d.container_state("hangup");
    assert_eq!(after["Running"], true, "not running after restart: {after}");
    assert_eq!(after["Status"], "running", "{after}");
    let (old, new) = (before["StartedAt"].as_str().unwrap(), after["StartedAt"].as_str().unwrap());
    assert!(new > old, "StartedAt did not move forward on restart: {old} -> {new}");
    assert_ne!(before["Pid"], after["Pid"], "same Pid after restart");
    // The restarted process is a new one: "ready" twice in the logs.
    let logs = d.wait_for_logs("hangup", "ready\ngot HUP\nready", Duration::from_secs(20));
    assert_eq!(logs.matches("ready").count(), 2, "{logs}");

    // docker wait prints the exit code.
    d.docker_ok(&["run", "-d", "--name", "waited", "busybox", "sh", "-c", "sleep 0.5; exit 3"]);
    let out = d.docker(&["wait", "waited"]);
    d.assert_exit("docker wait waited", &out, 0);
    assert_eq!(stdout_text(&out).trim(), "3");
    assert_eq!(d.container_state("waited")["ExitCode"], 3);

    // docker rename: the new name works, the old one is gone.
    let id = full_id(&d, "waited");
    assert_eq!(d.docker_ok(&["rename", "waited", "renamed"]), "");
    assert_eq!(d.inspect("renamed", "{{.Name}}"), "/renamed");
    assert_eq!(full_id(&d, "renamed"), id);
    let out = d.docker(&["inspect", "waited"]);
    assert!(!out.status.success(), "the old name still resolves");
    assert!(stderr_text(&out).contains("No such object: waited"), "{}", stderr_text(&out));
    assert_eq!(d.docker_ok(&["ps", "-a", "--filter", "name=renamed", "--format", "{{.Names}}"]).trim(), "renamed");

    // docker rm -f of a running container: gone from the list, and its
    // process is no longer running.
    let pid = d.container_state("hangup")["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(d.docker_ok(&["rm", "-f", "hangup"]).trim(), "hangup");
    let out = d.docker(&["inspect", "hangup"]);
    assert!(!out.status.success(), "hangup still exists after rm -f");
    assert!(
        wait_until(Duration::from_secs(10), || !Path::new(&format!("/proc/{pid}")).exists()),
        "the process of the removed container (pid {pid}) is still running"
    );
    assert_eq!(d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "renamed");
    d.remove_all_containers();
}

// ---- docker ps ------------------------------------------------------------

#[test]
fn ps_lists_and_filters_containers() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let long_command = "echo this command line is long enough to be truncated by docker ps; sleep 600";
    d.docker_ok(&["run", "-d", "--name", "ps-running", "--label", "team=blue", "busybox", "sh", "-c", long_command]);
    let out = d.docker(&["run", "--name", "ps-three", "busybox", "sh", "-c", "exit 3"]);
    d.assert_exit("docker run --name ps-three … exit 3", &out, 3);
    d.docker_ok(&["run", "--name", "ps-zero", "busybox", "true"]);
    let running = full_id(&d, "ps-running");
    let three = full_id(&d, "ps-three");
    let zero = full_id(&d, "ps-zero");

    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        all.extend(["--format", "{{.Names}}"]);
        sorted_lines(&d.docker_ok(&all))
    };
    assert_eq!(names(&[]), ["ps-running"], "docker ps: running only");
    assert_eq!(names(&["-a"]), ["ps-running", "ps-three", "ps-zero"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["ps-three", "ps-zero"]);
    assert_eq!(names(&["-a", "--filter", "status=running"]), ["ps-running"]);
    assert_eq!(names(&["-a", "--filter", "name=ps-three"]), ["ps-three"]);
    assert_eq!(
        names(&["-a", "--filter", "name=ps-"]),
        ["ps-running", "ps-three", "ps-zero"],
        "name= matches substrings"
    );
    assert_eq!(names(&["-a", "--filter", "label=team"]), ["ps-running"]);
    assert_eq!(names(&["-a", "--filter", "label=team=blue"]), ["ps-running"]);
    assert!(names(&["-a", "--filter", "label=team=red"]).is_empty());
    assert_eq!(names(&["-a", "--filter", "ancestor=busybox"]), ["ps-running", "ps-three", "ps-zero"]);
    assert_eq!(names(&["-a", "--filter", "exited=3"]), ["ps-three"]);
    assert_eq!(names(&["-a", "--filter", "exited=0"]), ["ps-zero"]);
    assert_eq!(names(&["-a", "--filter", "status=exited", "--filter", "exited=3"]), ["ps-three"]);
    // -l / --last 1: the newest container, whatever its state.
    assert_eq!(names(&["-l"]), ["ps-zero"]);
    assert_eq!(names(&["--last", "1"]), ["ps-zero"]);
    assert_eq!(names(&["--last", "2"]), ["ps-three", "ps-zero"]);

    // -q prints short IDs; --no-trunc full ones.
    assert_eq!(sorted_lines(&d.docker_ok(&["ps", "-q"])), [&running[..12]]);
    let mut short_all = vec![&running[..12], &three[..12], &zero[..12]];
    short_all.sort();
    assert_eq!(sorted_lines(&d.docker_ok(&["ps", "-aq"])), short_all);
    let mut full_all = vec![running.clone(), three.clone(), zero.clone()];
    full_all.sort();
    assert_eq!(sorted_lines(&d.docker_ok(&["ps", "-aq", "--no-trunc"])), full_all);
    assert_eq!(d.docker_ok(&["ps", "-lq"]).trim(), &zero[..12]);

    // The table: truncated by default, complete with --no-trunc.
    let table = d.docker_ok(&["ps"]);
    assert!(table.starts_with("CONTAINER ID"), "not a ps table:\n{table}");
    let row = table.lines().find(|l| l.contains("ps-running")).unwrap_or_else(|| panic!("no ps-running row:\n{table}"));
    assert!(row.starts_with(&running[..12]), "{row}");
    assert!(!row.contains(&running), "ID not truncated: {row}");
    assert!(!row.contains("sleep 600"), "command not truncated: {row}");
    assert!(row.contains("Up "), "status of a running container: {row}");
    let table = d.docker_ok(&["ps", "--no-trunc"]);
    let row = table.lines().find(|l| l.contains("ps-running")).unwrap_or_else(|| panic!("no ps-running row:\n{table}"));
    assert!(row.starts_with(&running), "{row}");
    assert!(row.contains(long_command), "command truncated: {row}");
    let table = d.docker_ok(&["ps", "-a"]);
    let row = table.lines().find(|l| l.contains("ps-three")).unwrap_or_else(|| panic!("no ps-three row:\n{table}"));
    assert!(row.contains("Exited (3)"), "{row}");
    d.remove_all_containers();
}

// ---- a daemon crash -----------------------------------------------------------

#[test]
fn containers_survive_a_daemon_crash_without_losing_logs() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done",
    ]);
    d.docker_ok(&["run", "-d", "--name", "exits-later", "busybox", "sh", "-c", "sleep 2; exit 42"]);
    let out = d.docker(&["run", "--name", "exited-before", "busybox", "sh", "-c", "exit 5"]);
    d.assert_exit("docker run exited-before", &out, 5);
    d.wait_for_logs("counter", "\n5\n", Duration::from_secs(20));
    let counter_pid = d.container_state("counter")["Pid"].as_i64().unwrap();
    let lines_before = d.docker_ok(&["logs", "counter"]).lines().count();

    d.kill9();
    // exits-later exits while there is no daemon; the counter keeps
    // printing.
    thread::sleep(Duration::from_secs(3));
    assert!(Path::new(&format!("/proc/{counter_pid}")).exists(), "the container process died with the daemon");
    d.respawn();

    let state = d.container_state("counter");
    assert_eq!(state["Status"], "running", "counter: {state}");
    assert_eq!(state["Pid"], counter_pid, "counter: {state}");
    let state = d.container_state("exits-later");
    assert_eq!(state["Status"], "exited", "exits-later: {state}");
    assert_eq!(state["ExitCode"], 42, "exits-later: {state}");
    let state = d.container_state("exited-before");
    assert_eq!(state["Status"], "exited", "exited-before: {state}");
    assert_eq!(state["ExitCode"], 5, "exited-before: {state}");
    let table = d.docker_ok(&["ps", "-a"]);
    let row = |name: &str| -> String {
        table
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("no {name} row after the restart:\n{table}"))
            .to_string()
    };
    assert!(row("counter").contains("Up "), "{table}");
    assert!(row("exits-later").contains("Exited (42)"), "{table}");
    assert!(row("exited-before").contains("Exited (5)"), "{table}");
    assert_eq!(d.docker_ok(&["wait", "exits-later"]).trim(), "42", "docker wait after the restart");

    // Output keeps arriving after the restart, and nothing printed while
    // the daemon was down is missing.
    thread::sleep(Duration::from_secs(1));
    let logs = d.docker_ok(&["logs", "counter"]);
    let numbers: Vec<u64> =
        logs.lines().map(|l| l.trim().parse().unwrap_or_else(|_| panic!("bad counter line {l:?}"))).collect();
    assert_eq!(numbers.first(), Some(&0), "{logs}");
    if let Some(w) = numbers.windows(2).find(|w| w[1] != w[0] + 1) {
        panic!("gap in the counter's logs across the daemon crash: {} then {}\n{logs}", w[0], w[1]);
    }
    assert!(
        numbers.len() >= lines_before + 20,
        "the counter printed {lines_before} lines before the crash and only {} after 4 s more: output from while the daemon was down or after the restart is missing",
        numbers.len()
    );

    // The restarted daemon still controls the container.
    let out = d.docker(&["stop", "-t", "1", "counter"]);
    d.assert_exit("docker stop counter after the restart", &out, 0);
    assert_eq!(d.inspect("counter", "{{.State.Status}}"), "exited");
    assert!(
        wait_until(Duration::from_secs(10), || !Path::new(&format!("/proc/{counter_pid}")).exists()),
        "the counter process is still running after docker stop"
    );
    d.remove_all_containers();
}

// ---- nothing left behind ------------------------------------------------------

/// Directories under `dir` (recursively, not following symlinks) whose
/// name contains one of `ids`.
fn dirs_named_after(dir: &Path, ids: &[String], found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if ids.iter().any(|id| name.contains(&id[..12])) {
            found.push(entry.path().display().to_string());
        }
        dirs_named_after(&entry.path(), ids, found);
    }
}

/// PIDs and command lines of processes whose command line mentions `text`.
fn processes_mentioning(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(text) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

#[test]
fn nothing_is_left_behind_after_removing_containers_and_stopping() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    let cidfile = d.scratch_dir().join("rm.cid");
    let bind_src = d.scratch_dir().join("bind");
    std::fs::create_dir(&bind_src).unwrap();
    let bind = format!("{}:/data", bind_src.display());

    // A --rm run, exited ones, running ones with limits, mounts and
    // --init, and one killed while running.
    d.docker_ok(&["run", "--rm", "--cidfile", cidfile.to_str().unwrap(), "-m", "64m", "busybox", "true"]);
    let mut ids = vec![std::fs::read_to_string(&cidfile).unwrap().trim().to_string()];
    d.docker_ok(&["run", "--name", "done", "busybox", "echo", "done"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "limited",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--tmpfs",
        "/run",
        "-v",
        &bind,
        "busybox",
        "sleep",
        "600",
    ]);
    d.docker_ok(&["run", "-d", "--name", "with-init", "--init", "busybox", "sleep", "600"]);
    d.docker_ok(&["run", "-d", "--name", "killed", "--read-only", "busybox", "sleep", "600"]);
    d.docker_ok(&["kill", "killed"]);
    for name in ["done", "limited", "with-init", "killed"] {
        ids.push(full_id(&d, name));
    }
    assert!(ids.iter().all(|id| id.len() == 64), "container IDs: {ids:?}");
    let data_root = d.data_root().display().to_string();
    // While they run, the process and cgroup checks below do see them (so
    // they can fail). Container mounts live in the containers' own mount
    // namespaces; the host's mountinfo would only show a leaked one.
    let container_processes: Vec<String> =
        processes_mentioning(&data_root).into_iter().filter(|p| !p.contains(" serve ")).collect();
    assert!(
        !container_processes.is_empty(),
        "no process besides the daemon mentions the data root while containers run"
    );
    let limited = full_id(&d, "limited");
    let mut running_cgroups = Vec::new();
    dirs_named_after(Path::new("/sys/fs/cgroup"), std::slice::from_ref(&limited), &mut running_cgroups);
    assert!(!running_cgroups.is_empty(), "no cgroup directory is named after the running container {limited}");

    d.remove_all_containers();
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    d.stop();

    let leftover_mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&data_root))
        .map(String::from)
        .collect();
    assert!(leftover_mounts.is_empty(), "mounts left under the data root:\n{}", leftover_mounts.join("\n"));

    let mut leftover_cgroups = Vec::new();
    dirs_named_after(Path::new("/sys/fs/cgroup"), &ids, &mut leftover_cgroups);
    assert!(leftover_cgroups.is_empty(), "cgroups left for removed containers:\n{}", leftover_cgroups.join("\n"));

    // The shims may take a moment to go once their container is removed.
    let mut leftover_processes = Vec::new();
    let gone = wait_until(Duration::from_secs(5), || {
        leftover_processes = processes_mentioning(&data_root);
        leftover_processes.is_empty()
    });
    assert!(gone, "processes left for this data root after the daemon stopped:\n{}", leftover_processes.join("\n"));
}
