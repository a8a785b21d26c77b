//! Operating running containers with the real `docker` CLI: `docker exec` (streams, exit
//! codes, terminals, user/workdir/env, privileged, detached), `docker events` (replay by time,
//! across a daemon restart, filters, live), restart policies (also at daemon start), health
//! checks, the wait conditions of the API, `docker logs --since/--until` windows and
//! `docker attach`. The Python SDK side is in `tests/python/test_sdk_exec.py`.
//!
//! Each test runs its own daemon; containers need root (CI is root), so every test returns
//! early with a note when not run as root.

mod common;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Daemon, running_as_root, stderr_text, stdout_text, tail, wait_until};

/// Now as `SECONDS.NANOSECONDS`, a form `--since`/`--until` take.
fn unix_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// Whole seconds since the epoch, `ahead` from now.
fn unix_secs_from_now(ahead: Duration) -> u64 {
    (SystemTime::now() + ahead).duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `docker events --since SINCE --until UNTIL [EXTRA…] --format FORMAT`, one entry a line.
fn events(d: &Daemon, since: &str, until: &str, extra: &[&str], format: &str) -> Vec<String> {
    let mut args = vec!["events", "--since", since, "--until", until];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", format]);
    let out = d.docker(&args);
    d.assert_success(&format!("docker {}", args.join(" ")), &out);
    stdout_text(&out).lines().map(str::to_string).collect()
}

/// The container's status as `docker inspect` shows it.
fn status(d: &Daemon, name: &str) -> String {
    d.inspect(name, "{{.State.Status}}")
}

/// Polls the status of `name` until it is `wanted` (at most `timeout`).
fn wait_for_status(d: &Daemon, name: &str, wanted: &str, timeout: Duration) {
    let mut seen = String::new();
    let reached = wait_until(timeout, || {
        seen = status(d, name);
        seen == wanted
    });
    assert!(
        reached,
        "{name} is {seen:?}, not {wanted:?}, after {timeout:?}\n--- daemon log (tail) ---\n{}",
        tail(&d.log(), 60)
    );
}

/// A command running in the background whose output is collected as it comes. Killed (by its
/// own handle) if still running when dropped.
struct Background {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `docker ARGS` against `d`, stdin closed.
    fn docker(d: &Daemon, args: &[&str]) -> Background {
        let mut cmd = Command::new("docker");
        cmd.args(args);
        d.docker_env(&mut cmd);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
        let (stdout, stderr) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Background { child, stdout, stderr, readers }
    }

    /// What it printed on stdout so far.
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for it to exit (at most `timeout`): its status, stdout and stderr; None if it is
    /// still running then.
    fn wait(&mut self, timeout: Duration) -> Option<(ExitStatus, String, String)> {
        if !wait_until(timeout, || !self.is_running()) {
            return None;
        }
        let status = self.child.wait().expect("wait");
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Some((status, self.stdout(), self.stderr()))
    }
}

/// Appends everything read from `pipe` to `sink`, on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- docker exec ------------------------------------------------------------

#[test]
fn exec_runs_commands_with_streams_exit_codes_user_workdir_env_and_detached() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let since = unix_now();

    assert_eq!(d.docker_ok(&["exec", "box", "echo", "x"]), "x\n");

    let out = d.docker_stdin(&["exec", "-i", "box", "cat"], b"y\n");
    d.assert_exit("echo y | docker exec -i box cat", &out, 0);
    assert_eq!(stdout_text(&out), "y\n", "stdin did not reach the exec'd process");

    let out = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    d.assert_exit("docker exec box sh -c 'exit 4'", &out, 4);
    assert_eq!(stdout_text(&out), "out\n");
    assert_eq!(stderr_text(&out), "err\n", "stderr of an exec is kept apart from stdout");

    // The exec joins the container's PID namespace: its PID 1 is the container's command.
    let ps = d.docker_ok(&["exec", "box", "ps"]);
    let pid1 = ps.lines().find(|l| l.split_whitespace().next() == Some("1"));
    assert!(
        pid1.is_some_and(|l| l.trim_end().ends_with("sleep 1000")),
        "ps inside an exec should show the container's command as PID 1:\n{ps}"
    );
    assert!(!ps.contains("kapsel"), "ps inside the container sees host processes:\n{ps}");

    assert_eq!(d.docker_ok(&["exec", "-u", "nobody", "box", "id", "-u"]).trim(), "65534");
    assert_eq!(d.docker_ok(&["exec", "box", "id", "-u"]).trim(), "0", "the default exec user is the container's");
    assert_eq!(d.docker_ok(&["exec", "-w", "/tmp", "box", "pwd"]).trim(), "/tmp");
    assert_eq!(d.docker_ok(&["exec", "box", "pwd"]).trim(), "/");
    assert_eq!(d.docker_ok(&["exec", "-e", "A=B", "box", "sh", "-c", "echo A=$A"]).trim(), "A=B");
    assert_eq!(d.docker_ok(&["exec", "box", "sh", "-c", "echo A=$A"]).trim(), "A=", "-e leaked into a later exec");

    // -d returns while the command still runs: it waits for a file this test creates later.
    // (`timeout` turns an exec that does not detach into a failure instead of a hang.)
    let out = d.shell(
        "timeout 30 docker exec -d box sh -c 'while [ ! -e /tmp/go ]; do sleep 0.05; done; echo detached > /tmp/out'",
    );
    d.assert_exit("docker exec -d box …", &out, 0);
    assert_eq!(stdout_text(&out), "", "docker exec -d prints nothing");
    d.docker_ok(&["exec", "box", "touch", "/tmp/go"]);
    let mut seen = String::new();
    let done = wait_until(Duration::from_secs(15), || {
        seen = stdout_text(&d.docker(&["exec", "box", "cat", "/tmp/out"]));
        seen == "detached\n"
    });
    assert!(done, "the detached exec did not write /tmp/out (last read {seen:?})");

    // Every exec is in the event log: exec_create and exec_start name the command, exec_die
    // carries the exit code.
    let until = unix_now();
    let lines = events(
        &d,
        &since,
        &until,
        &["--filter", "container=box"],
        "{{.Action}}|{{.Actor.Attributes.name}}|{{.Actor.Attributes.image}}|{{.Actor.Attributes.exitCode}}",
    );
    let actions: Vec<&str> = lines.iter().map(|l| l.split('|').next().unwrap()).collect();
    assert_eq!(
        actions.get(..3),
        Some(&["exec_create: echo x", "exec_start: echo x", "exec_die"][..]),
        "the events of the first exec:\n{}",
        lines.join("\n")
    );
    let dies: Vec<&String> = lines.iter().filter(|l| l.starts_with("exec_die|")).collect();
    assert!(dies.len() >= 10, "one exec_die per exec:\n{}", lines.join("\n"));
    assert!(
        dies.iter().any(|l| l.starts_with("exec_die|box|") && l.ends_with("|4")),
        "exec_die of `exit 4` with its exit code:\n{}",
        lines.join("\n")
    );

    // A stopped container takes no exec: the CLI says why and fails; the API answers 409.
    d.docker_ok(&["stop", "-t", "0", "box"]);
    let out = d.docker(&["exec", "box", "echo", "x"]);
    assert!(!out.status.success(), "docker exec on a stopped container succeeded:\n{}", stdout_text(&out));
    assert!(stderr_text(&out).contains("is not running"), "{}", stderr_text(&out));
    let reply = d.http(
        "POST",
        "/containers/box/exec",
        Some(br#"{"Cmd":["echo","x"],"AttachStdout":true}"#),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(reply.status, 409, "exec create on a stopped container: {}", reply.text());
    assert!(reply.json()["message"].as_str().unwrap_or_default().contains("is not running"), "{}", reply.text());
    let out = d.docker(&["exec", "nosuchbox", "echo", "x"]);
    assert!(!out.status.success());
    assert!(stderr_text(&out).contains("No such container: nosuchbox"), "{}", stderr_text(&out));

    // dockerd puts the container's name and image on exec events as on all container events
    // (`docker events` shows them, `--filter image=` selects by them).
    assert!(
        lines.iter().all(|l| l.contains("|box|busybox|")),
        "name and image on every exec event:\n{}",
        lines.join("\n")
    );
    d.remove_all_containers();
}

#[test]
fn concurrent_execs_all_succeed() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    // Several `docker exec` at once (scripts, health checks and users do that): every one runs
    // its command and reports its own output and exit code.
    let failures: Vec<String> = thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let d = &d;
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for round in 0..25 {
                        let code = (worker + round) % 3;
                        let script = format!("echo {worker}-{round}; exit {code}");
                        let out = d.docker(&["exec", "busy", "sh", "-c", &script]);
                        if out.status.code() != Some(code) || stdout_text(&out) != format!("{worker}-{round}\n") {
                            failures.push(format!(
                                "exec {worker}-{round}: exit {:?} (wanted {code}), stdout {:?}, stderr {:?}",
                                out.status.code(),
                                stdout_text(&out),
                                stderr_text(&out)
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{} of 100 concurrent execs failed:\n{}", failures.len(), failures.join("\n"));
    d.remove_all_containers();
}

#[test]
fn exec_it_gets_a_terminal_and_privileged_exec_can_mount() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);

    // An interactive shell through a pseudo-terminal, as a user at a terminal gets it: `script`
    // gives the CLI a terminal of 30x90, the shell reads the typed line, and the exit code of
    // the shell is the CLI's (`script -e`).
    let mut script = Command::new("script");
    script.args(["-qec", "stty rows 30 cols 90; docker exec -it box sh", "/dev/null"]);
    d.docker_env(&mut script);
    let out = common::run(script, Some(b"tty; stty size; echo marker-$((6*7)); exit 3\n"));
    let text = stdout_text(&out).replace('\r', "");
    assert_eq!(out.status.code(), Some(3), "the shell's exit code 3 through docker exec -it:\n{text}");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.iter().any(|l| l
            .strip_prefix("/dev/pts/")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))),
        "`tty` in docker exec -it should print a /dev/pts/N path:\n{text}"
    );
    assert!(lines.contains(&"marker-42"), "the shell did not run the typed command:\n{text}");
    assert!(
        lines.contains(&"30 90"),
        "the exec's terminal does not have the CLI's size (30 rows, 90 columns):\n{text}"
    );
    // Without -t there is no terminal.
    let out = d.docker(&["exec", "box", "sh", "-c", "test -t 0 || echo no-tty"]);
    assert_eq!(stdout_text(&out).trim(), "no-tty");

    // A plain exec has the container's (default) privileges: no mount. --privileged can.
    let out = d.docker(&["exec", "box", "mount", "-t", "tmpfs", "x", "/tmp"]);
    assert!(!out.status.success(), "a plain exec could mount a tmpfs");
    assert!(
        !d.docker_ok(&["exec", "box", "cat", "/proc/mounts"]).lines().any(|l| l.contains(" /tmp tmpfs ")),
        "the refused mount is there anyway"
    );
    // As with Docker, the container's seccomp filter (built for its own capabilities) still
    // applies to a privileged exec: mount stays refused until the container is unconfined.
    let out = d.docker(&["exec", "--privileged", "box", "mount", "-t", "tmpfs", "x", "/tmp"]);
    assert!(!out.status.success(), "a privileged exec got past the container's seccomp filter");
    d.docker_ok(&["run", "-d", "--name", "open", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "1000"]);
    let out = d.docker(&["exec", "open", "mount", "-t", "tmpfs", "x", "/tmp"]);
    assert!(!out.status.success(), "a plain exec could mount a tmpfs in an unconfined container");
    let out = d.docker(&["exec", "--privileged", "open", "mount", "-t", "tmpfs", "x", "/tmp"]);
    d.assert_exit("docker exec --privileged open mount -t tmpfs x /tmp", &out, 0);
    let mounts = d.docker_ok(&["exec", "open", "cat", "/proc/mounts"]);
    assert!(mounts.lines().any(|l| l.starts_with("x /tmp tmpfs ")), "the privileged mount is not visible:\n{mounts}");
    d.remove_all_containers();
}

// ---- docker events ------------------------------------------------------------

#[test]
fn events_replay_a_run_in_order_also_after_a_daemon_restart() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    let since = unix_now();
    let out = d.docker(&["run", "--rm", "--name", "short", "busybox", "echo", "hi"]);
    d.assert_exit("docker run --rm --name short busybox echo hi", &out, 0);
    let until = unix_now();
    let format = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}";
    let expected: Vec<String> = ["create", "attach", "start", "die", "destroy"]
        .iter()
        .map(|a| format!("container {a} short busybox"))
        .collect();
    assert_eq!(
        events(&d, &since, &until, &["--filter", "type=container"], format),
        expected,
        "docker events --since {since} --until {until}"
    );
    // The die event carries the exit code, and IDs are the container's.
    let die = events(&d, &since, &until, &["--filter", "event=die"], "{{.Actor.Attributes.exitCode}} {{.Actor.ID}}");
    assert_eq!(die.len(), 1, "{die:?}");
    let (code, id) = die[0].split_once(' ').unwrap();
    assert_eq!(code, "0");
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "container ID in the event: {id:?}");

    // Events outside the window are not listed.
    let before = events(&d, "0", &since, &["--filter", "type=container"], format);
    assert_eq!(before, Vec::<String>::new(), "container events before the run");

    d.restart();
    assert_eq!(
        events(&d, &since, &until, &["--filter", "type=container"], format),
        expected,
        "the same query after a daemon restart (events are kept across restarts)"
    );
}

#[test]
fn events_filter_by_action_type_and_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::start();
    let since = unix_now();
    d.import_busybox();
    d.docker_ok(&["tag", "busybox", "mine:v1"]);
    let out = d.docker(&["run", "--name", "good", "busybox", "true"]);
    d.assert_exit("docker run --name good busybox true", &out, 0);
    let out = d.docker(&["run", "--name", "bad", "busybox", "sh", "-c", "exit 3"]);
    d.assert_exit("docker run --name bad busybox sh -c 'exit 3'", &out, 3);
    let until = unix_now();

    let dies = events(
        &d,
        &since,
        &until,
        &["--filter", "event=die"],
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    );
    assert_eq!(dies, ["good 0", "bad 3"], "--filter event=die");

    let both = events(&d, &since, &until, &["--filter", "event=create", "--filter", "event=destroy"], "{{.Action}}");
    assert_eq!(both, ["create", "create"], "two values of one filter key match either");

    let images =
        events(&d, &since, &until, &["--filter", "type=image"], "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}");
    assert!(images.iter().all(|l| l.starts_with("image ")), "--filter type=image let others through:\n{images:?}");
    let actions: Vec<&str> = images.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert!(actions.contains(&"import"), "no import event: {images:?}");

    let bad = events(&d, &since, &until, &["--filter", "container=bad"], "{{.Actor.Attributes.name}} {{.Action}}");
    assert_eq!(bad, ["bad create", "bad attach", "bad start", "bad die"], "--filter container=bad");
    let id = d.inspect("bad", "{{.Id}}");
    let by_id = events(&d, &since, &until, &["--filter", &format!("container={}", &id[..12])], "{{.Action}}");
    assert_eq!(by_id, ["create", "attach", "start", "die"], "--filter container=<short ID>");

    // Filters of different keys must all match.
    let none = events(&d, &since, &until, &["--filter", "container=good", "--filter", "event=destroy"], "{{.Action}}");
    assert_eq!(none, Vec::<String>::new());

    let out = d.docker(&["events", "--since", &since, "--until", &until, "--filter", "colour=blue"]);
    assert!(!out.status.success(), "an unknown filter key is refused");
    assert!(stderr_text(&out).contains("colour"), "{}", stderr_text(&out));

    // As dockerd shows them: the tag event names the reference in its familiar form.
    assert!(images.contains(&"image tag busybox:latest".to_string()), "the tag of docker import: {images:?}");
    assert!(images.contains(&"image tag mine:v1".to_string()), "the tag of docker tag: {images:?}");
    d.remove_all_containers();
}

#[test]
fn live_events_show_a_run_started_after_them() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // The stream ends by itself at --until.
    let until = unix_secs_from_now(Duration::from_secs(12)).to_string();
    let started = Instant::now();
    let mut live = Background::docker(
        &d,
        &["events", "--until", &until, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"],
    );

    // There is no telling when the stream is subscribed but by seeing an event on it: tag
    // until one shows.
    let mut n = 0;
    let subscribed = wait_until(Duration::from_secs(10), || {
        n += 1;
        d.docker_ok(&["tag", "busybox", &format!("probe:{n}")]);
        thread::sleep(Duration::from_millis(100));
        live.stdout().contains("image tag ")
    });
    assert!(subscribed, "docker events showed no tag event:\n{}\n{}", live.stdout(), live.stderr());

    let out = d.docker(&["run", "--rm", "--name", "seen", "busybox", "true"]);
    d.assert_exit("docker run --rm --name seen busybox true", &out, 0);

    let Some((status, stdout, stderr)) = live.wait(Duration::from_secs(30)) else {
        panic!("docker events --until {until} was still running {:?} after it started", started.elapsed());
    };
    assert!(status.success(), "docker events --until exited with {status}: {stderr}");
    let seen: Vec<&str> = stdout.lines().filter(|l| l.ends_with(" seen")).collect();
    assert_eq!(
        seen,
        [
            "container create seen",
            "container attach seen",
            "container start seen",
            "container die seen",
            "container destroy seen"
        ],
        "live events:\n{stdout}"
    );
    assert!(!stdout.contains("import"), "a live stream without --since replayed old events:\n{stdout}");
}

// ---- restart policies ------------------------------------------------------------

#[test]
fn restart_policies_on_failure_gives_up_and_always_comes_back() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo ran; exit 1",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "comeback",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo ran; sleep 0.3",
    ]);

    // on-failure:3: three restarts, then it stays exited.
    let mut seen = String::new();
    let gave_up = wait_until(Duration::from_secs(20), || {
        seen = d.inspect("flaky", "{{.State.Status}} {{.RestartCount}}");
        seen == "exited 3"
    });
    assert!(gave_up, "on-failure:3 container is {seen:?}, not \"exited 3\"\n{}", tail(&d.log(), 60));
    assert_eq!(d.inspect("flaky", "{{.State.ExitCode}}"), "1");
    assert_eq!(d.docker_ok(&["logs", "flaky"]), "ran\n".repeat(4), "one run and three restarts, one log line each");
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.inspect("flaky", "{{.State.Status}} {{.RestartCount}}"), "exited 3", "restarted past the maximum");

    // always: it exits (status 0) and comes back, again and again.
    let mut seen = String::new();
    let came_back = wait_until(Duration::from_secs(20), || {
        seen = d.inspect("comeback", "{{.State.Status}} {{.RestartCount}}");
        let (status, count) = seen.split_once(' ').unwrap();
        status == "running" && count.parse::<u32>().unwrap_or(0) >= 2
    });
    assert!(came_back, "an always container that exits should run again (last {seen:?})\n{}", tail(&d.log(), 60));
    let logs = d.docker_ok(&["logs", "comeback"]);
    assert!(logs.matches("ran\n").count() >= 2, "every run logs a line:\n{logs}");

    // docker stop ends it for good: no restart after a manual stop.
    d.docker_ok(&["stop", "-t", "1", "comeback"]);
    let count = d.inspect("comeback", "{{.RestartCount}}");
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.inspect("comeback", "{{.State.Status}} {{.RestartCount}}"), format!("exited {count}"));
    d.remove_all_containers();
}

#[test]
fn restart_policies_at_daemon_start() {
    if !running_as_root() {
        return;
    }
    let mut d = Daemon::with_busybox();
    for (name, policy) in [
        ("always-up", "always"),
        ("always-stopped", "always"),
        ("unless-up", "unless-stopped"),
        ("unless-stopped", "unless-stopped"),
    ] {
        d.docker_ok(&["run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000"]);
    }
    d.docker_ok(&["stop", "-t", "0", "always-stopped", "unless-stopped"]);
    assert_eq!(status(&d, "always-stopped"), "exited");

    // dockerd's rule at daemon start: `always` runs even if the user stopped it;
    // `unless-stopped` runs unless the user stopped it.
    let check = |d: &Daemon, when: &str| {
        for name in ["always-up", "always-stopped", "unless-up"] {
            wait_for_status(d, name, "running", Duration::from_secs(20));
            assert_eq!(d.docker_ok(&["exec", name, "echo", "alive"]).trim(), "alive", "{name} {when}");
        }
        assert_eq!(status(d, "unless-stopped"), "exited", "a stopped unless-stopped container started {when}");
        let running = d.docker_ok(&["ps", "--format", "{{.Names}}"]);
        let mut running: Vec<&str> = running.lines().collect();
        running.sort();
        assert_eq!(running, ["always-stopped", "always-up", "unless-up"], "docker ps {when}");
    };

    d.restart();
    check(&d, "after a daemon restart");

    d.docker_ok(&["stop", "-t", "0", "always-stopped"]);
    assert_eq!(status(&d, "always-stopped"), "exited");
    d.kill9();
    d.respawn();
    check(&d, "after the daemon was killed and started again");
    d.remove_all_containers();
}

// ---- health checks -------------------------------------------------------------

#[test]
fn health_checks_turn_containers_healthy_or_unhealthy() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    let since = unix_now();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1000",
    ]);

    wait_for_health(&d, "sick", "unhealthy");
    wait_for_health(&d, "fine", "healthy");
    let streak: u32 = d.inspect("sick", "{{.State.Health.FailingStreak}}").parse().unwrap();
    assert!(streak >= 2, "FailingStreak {streak} of an unhealthy container with 2 retries");
    assert_eq!(d.inspect("sick", "{{(index .State.Health.Log 0).ExitCode}}"), "1", "the probe's exit code is logged");
    assert_eq!(d.inspect("fine", "{{.State.Health.FailingStreak}}"), "0");

    let ps = d.docker_ok(&["ps", "--format", "{{.Names}}|{{.Status}}"]);
    let row = |name: &str| ps.lines().find(|l| l.starts_with(&format!("{name}|"))).unwrap_or_default().to_string();
    assert!(row("sick").ends_with("(unhealthy)"), "docker ps:\n{ps}");
    assert!(row("fine").ends_with("(healthy)"), "docker ps:\n{ps}");
    assert_eq!(d.docker_ok(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]).trim(), "fine");
    assert_eq!(d.docker_ok(&["ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"]).trim(), "sick");

    let changes =
        events(&d, &since, &unix_now(), &["--filter", "event=health_status"], "{{.Action}} {{.Actor.Attributes.name}}");
    assert!(changes.contains(&"health_status: unhealthy sick".to_string()), "{changes:?}");
    assert!(changes.contains(&"health_status: healthy fine".to_string()), "{changes:?}");
    d.remove_all_containers();
}

/// Polls `.State.Health.Status` of `name` until it is `wanted` (at most 15 s).
fn wait_for_health(d: &Daemon, name: &str, wanted: &str) {
    let mut seen = String::new();
    let reached = wait_until(Duration::from_secs(15), || {
        seen = d.inspect(name, "{{.State.Health.Status}}");
        seen == wanted
    });
    assert!(reached, "health of {name} is {seen:?}, not {wanted:?}\n{}", tail(&d.log(), 60));
}

// ---- wait conditions, logs windows, attach ------------------------------------------------

#[test]
fn wait_conditions_of_the_api() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();

    // not-running on a container that never ran: at once, 0.
    d.docker_ok(&["create", "--name", "fresh", "busybox", "true"]);
    let started = Instant::now();
    let reply = d.http("POST", "/containers/fresh/wait?condition=not-running", None, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["StatusCode"], 0, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not-running on a created container took {:?}",
        started.elapsed()
    );

    // A container that exits 2 on its first run and 5 on the next.
    let script = "if [ -e /ran ]; then exit 5; fi; touch /ran; exit 2";
    let out = d.docker(&["run", "--name", "twice", "busybox", "sh", "-c", script]);
    d.assert_exit("docker run --name twice …", &out, 2);
    let reply = d.http("POST", "/containers/twice/wait", None, &[]);
    assert_eq!(reply.json()["StatusCode"], 2, "the default condition on an exited container: {}", reply.text());

    thread::scope(|s| {
        // next-exit waits for the next run to end, though the container is not running now.
        let waiter = s.spawn(|| d.http("POST", "/containers/twice/wait?condition=next-exit", None, &[]));
        thread::sleep(Duration::from_millis(500));
        assert!(!waiter.is_finished(), "condition=next-exit returned before the container ran again");
        d.docker_ok(&["start", "twice"]);
        assert!(
            wait_until(Duration::from_secs(20), || waiter.is_finished()),
            "next-exit did not return after the exit"
        );
        let reply = waiter.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["StatusCode"], 5, "next-exit gives the code of the next run: {}", reply.text());

        // removed waits for docker rm.
        let waiter = s.spawn(|| d.http("POST", "/containers/twice/wait?condition=removed", None, &[]));
        thread::sleep(Duration::from_millis(500));
        assert!(!waiter.is_finished(), "condition=removed returned before the container was removed");
        d.docker_ok(&["rm", "twice"]);
        assert!(wait_until(Duration::from_secs(20), || waiter.is_finished()), "removed did not return after docker rm");
        let reply = waiter.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["StatusCode"], 5, "{}", reply.text());
    });

    let reply = d.http("POST", "/containers/fresh/wait?condition=sometime", None, &[]);
    assert_eq!(reply.status, 400, "an unknown condition: {}", reply.text());
    assert_eq!(d.http("POST", "/containers/nothere/wait", None, &[]).status, 404);
    d.remove_all_containers();
}

#[test]
fn logs_since_and_until_select_a_time_window() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "phases",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two; echo err-two >&2; sleep 1; echo three",
    ]);
    d.wait_for_logs("phases", "one", Duration::from_secs(20));
    let after_one = unix_now();
    d.wait_for_logs("phases", "two", Duration::from_secs(20));
    let after_two = unix_now();
    let out = d.docker(&["wait", "phases"]);
    d.assert_exit("docker wait phases", &out, 0);
    assert_eq!(d.docker_ok(&["logs", "phases"]), "one\ntwo\nthree\n");

    let out = d.docker(&["logs", "--since", &after_one, "--until", &after_two, "phases"]);
    d.assert_exit("docker logs --since --until", &out, 0);
    assert_eq!(stdout_text(&out), "two\n", "docker logs --since {after_one} --until {after_two}");
    assert_eq!(stderr_text(&out), "err-two\n", "docker logs --since {after_one} --until {after_two} (stderr)");
    assert_eq!(d.docker_ok(&["logs", "--since", &after_two, "phases"]), "three\n");
    assert_eq!(d.docker_ok(&["logs", "--until", &after_one, "phases"]), "one\n");
    // An empty window and a window in the future.
    assert_eq!(d.docker_ok(&["logs", "--since", &after_two, "--until", &after_one, "phases"]), "");
    assert_eq!(
        d.docker_ok(&["logs", "--since", &unix_secs_from_now(Duration::from_secs(3600)).to_string(), "phases"]),
        ""
    );
    d.remove_all_containers();
}

#[test]
fn attach_receives_new_output_and_ends_with_the_container() {
    if !running_as_root() {
        return;
    }
    let d = Daemon::with_busybox();
    // It prints "early", then waits for /go before printing more and exiting 7.
    let script =
        "echo early; while [ ! -e /go ]; do sleep 0.05; done; for i in 1 2 3; do echo late$i; sleep 0.1; done; exit 7";
    d.docker_ok(&["run", "-d", "--name", "talker", "busybox", "sh", "-c", script]);
    d.wait_for_logs("talker", "early", Duration::from_secs(20));
    let since = unix_now();

    let mut attach = Background::docker(&d, &["attach", "--no-stdin", "talker"]);
    // The attach event says the stream is connected.
    let attached = wait_until(Duration::from_secs(15), || {
        !events(&d, &since, &unix_now(), &["--filter", "event=attach", "--filter", "container=talker"], "{{.Action}}")
            .is_empty()
    });
    assert!(attached, "no attach event for docker attach:\n{}", attach.stderr());
    d.docker_ok(&["exec", "talker", "touch", "/go"]);

    let Some((exit, stdout, stderr)) = attach.wait(Duration::from_secs(30)) else {
        panic!("docker attach did not end when the container exited:\n{}", attach.stdout());
    };
    assert_eq!(stdout, "late1\nlate2\nlate3\n", "docker attach shows the output from now on, not the old logs");
    assert_eq!(exit.code(), Some(7), "docker attach exits with the container's code: {stderr}");
    assert_eq!(status(&d, "talker"), "exited");

    let out = d.docker(&["attach", "talker"]);
    assert!(!out.status.success(), "docker attach to an exited container succeeded");
    assert!(stderr_text(&out).contains("You cannot attach to a stopped container"), "{}", stderr_text(&out));
    d.remove_all_containers();
}
