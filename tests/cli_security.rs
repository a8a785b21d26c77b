//! Confinement acceptance tests with the real `docker` CLI: the default seccomp profile (what it
//! refuses inside a container, for `docker exec` too, and how capabilities open it), the
//! `--security-opt seccomp=unconfined|<profile.json>` and `--privileged` ways out, and what
//! `docker info` reports. LSM label selection is unit-tested (`engine::containers::lsm`); this
//! host runs neither AppArmor nor SELinux, which is checked here as the daemon reports it.
//!
//! A small static C program (compiled here with `cc -static`, bind-mounted into busybox)
//! makes the syscalls busybox has no applet for and prints each one's errno.
//!
//! Each test runs its own daemon; containers need root (CI is root), so every test returns
//! early with a note when not run as root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Daemon, running_as_root, stderr_text, stdout_text};

/// The probe: `probe NAME…` makes each named syscall and prints `NAME=<errno>` (0: success).
const PROBE_SOURCE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *n = argv[i];
        long rc;
        errno = 0;
        if (!strcmp(n, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring, no create */
            rc = syscall(SYS_keyctl, 0, -3, 0);
        else if (!strcmp(n, "kexec_load"))
            rc = syscall(SYS_kexec_load, 0, 0, NULL, 0);
        else if (!strcmp(n, "unshare_user"))
            rc = syscall(SYS_unshare, CLONE_NEWUSER);
        else if (!strcmp(n, "mount"))
            rc = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
        else if (!strcmp(n, "clone3")) /* a NULL argument: EFAULT/EINVAL when the call is reached */
            rc = syscall(SYS_clone3, NULL, 0);
        else if (!strcmp(n, "vsock"))
            rc = syscall(SYS_socket, 40, 1, 0);
        else if (!strcmp(n, "personality")) /* ADDR_NO_RANDOMIZE */
            rc = syscall(SYS_personality, 0x0040000);
        else if (!strcmp(n, "getpid"))
            rc = syscall(SYS_getpid);
        else {
            fprintf(stderr, "unknown probe %s\n", n);
            return 2;
        }
        printf("%s=%d\n", n, rc < 0 ? errno : 0);
    }
    return 0;
}
"#;

/// Compiles the probe once per test binary; its path on the host.
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seccomp-probe");
        std::fs::create_dir_all(&dir).expect("create the probe directory");
        let source = dir.join("probe.c");
        std::fs::write(&source, PROBE_SOURCE).expect("write the probe source");
        let binary = dir.join(format!("probe-{}", std::process::id()));
        let out = Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&binary)
            .arg(&source)
            .output()
            .expect("run cc (the Rust toolchain's linker) to build the probe");
        assert!(out.status.success(), "cc -static failed:\n{}", String::from_utf8_lossy(&out.stderr));
        binary
    })
}

/// `docker run --rm OPTIONS… -v probe:/probe busybox /probe CALLS…`: each call's errno.
fn run_probe(d: &Daemon, options: &[&str], calls: &[&str]) -> Vec<(String, i32)> {
    let mount = format!("{}:/probe:ro", probe().display());
    let mut args = vec!["run", "--rm", "-v", &mount];
    args.extend_from_slice(options);
    args.extend(["busybox", "/probe"]);
    args.extend_from_slice(calls);
    let out = d.docker(&args);
    d.assert_success(&format!("docker {}", args.join(" ")), &out);
    parse_probe(&stdout_text(&out))
}

fn parse_probe(text: &str) -> Vec<(String, i32)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, errno)| (name.to_string(), errno.trim().parse().expect("an errno")))
        .collect()
}

fn errno_of(results: &[(String, i32)], name: &str) -> i32 {
    results.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no result for {name}: {results:?}")).1
}

/// `docker run --rm OPTIONS… busybox sh -c SCRIPT`: (exit code, stdout, stderr).
fn run_sh(d: &Daemon, options: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(options);
    args.extend(["busybox", "sh", "-c", script]);
    let out = d.docker(&args);
    (out.status.code().unwrap_or(-1), stdout_text(&out), stderr_text(&out))
}

/// The `Seccomp:` mode a process inside reports (0 none, 2 filter).
fn seccomp_mode(d: &Daemon, options: &[&str]) -> String {
    let (code, out, err) = run_sh(d, options, "grep '^Seccomp:' /proc/self/status");
    assert_eq!(code, 0, "reading /proc/self/status with {options:?}: {out}{err}");
    out.split_whitespace().nth(1).unwrap_or_default().to_string()
}

#[test]
fn the_default_profile_refuses_namespaces_keyrings_kexec_and_mount() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    assert_eq!(seccomp_mode(&d, &[]), "2", "a default container runs under a filter");

    let results = run_probe(
        &d,
        &[],
        &["keyctl", "kexec_load", "unshare_user", "mount", "clone3", "vsock", "personality", "getpid"],
    );
    for call in ["keyctl", "kexec_load", "unshare_user", "mount", "vsock", "personality"] {
        assert_eq!(errno_of(&results, call), libc::EPERM, "{call} under the default profile: {results:?}");
    }
    assert_eq!(errno_of(&results, "clone3"), libc::ENOSYS, "clone3 says ENOSYS so that libc uses clone");
    assert_eq!(errno_of(&results, "getpid"), 0);

    // The same with busybox's own applets, as a user would try.
    let (code, _, err) = run_sh(&d, &[], "unshare -U true");
    assert_ne!(code, 0, "unshare -U succeeded under the default profile");
    assert!(err.contains("Operation not permitted"), "unshare -U: {err}");
    let (code, _, err) = run_sh(&d, &[], "mount -t tmpfs none /tmp");
    assert_ne!(code, 0, "mount succeeded under the default profile: {err}");

    // Threads and processes still work (clone without namespace flags).
    let (code, out, err) = run_sh(&d, &[], "sh -c 'echo child' & wait; echo parent");
    assert_eq!((code, out.as_str()), (0, "child\nparent\n"), "{err}");
}

#[test]
fn unconfined_and_privileged_lift_the_filter() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(seccomp_mode(&d, &unconfined), "0");
    assert_eq!(seccomp_mode(&d, &["--privileged"]), "0");

    let results = run_probe(&d, &unconfined, &["keyctl", "unshare_user", "clone3", "vsock"]);
    // Without the filter the kernel itself answers: a keyring id or ENOKEY, a new user
    // namespace (no capability needed), EFAULT/EINVAL for clone3's missing argument.
    assert_ne!(errno_of(&results, "keyctl"), libc::EPERM, "{results:?}");
    assert_eq!(errno_of(&results, "unshare_user"), 0, "{results:?}");
    assert_ne!(errno_of(&results, "clone3"), libc::ENOSYS, "{results:?}");
    assert_ne!(errno_of(&results, "vsock"), libc::EPERM, "{results:?}");
    let (code, _, err) = run_sh(&d, &unconfined, "unshare -U true");
    assert_eq!(code, 0, "unshare -U with seccomp=unconfined: {err}");
}

#[test]
fn the_profile_follows_the_capabilities() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    // CAP_SYS_ADMIN opens mount, unshare and clone3, as in Docker's profile.
    let admin = ["--cap-add", "SYS_ADMIN"];
    let (code, out, err) = run_sh(&d, &admin, "mount -t tmpfs none /tmp && grep -c ' /tmp tmpfs' /proc/mounts");
    assert_eq!((code, out.trim()), (0, "1"), "mount with CAP_SYS_ADMIN: {err}");
    let results = run_probe(&d, &admin, &["unshare_user", "clone3", "keyctl"]);
    assert_eq!(errno_of(&results, "unshare_user"), 0, "{results:?}");
    assert_ne!(errno_of(&results, "clone3"), libc::ENOSYS, "{results:?}");
    assert_eq!(errno_of(&results, "keyctl"), libc::EPERM, "keyctl stays refused: {results:?}");
    assert_eq!(seccomp_mode(&d, &admin), "2", "still filtered");
}

#[test]
fn a_json_profile_replaces_the_default() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    let profile = d.scratch_dir().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        }"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());
    let (code, _, err) = run_sh(&d, &["--security-opt", &option], "mkdir /tmp/x");
    assert_ne!(code, 0, "mkdir succeeded under a profile that refuses it");
    assert!(err.contains("Permission denied"), "errnoRet 13 is EACCES: {err}");
    let (code, out, err) = run_sh(&d, &["--security-opt", &option], "touch /tmp/y && echo ok");
    assert_eq!((code, out.as_str()), (0, "ok\n"), "{err}");
    // Everything else is allowed by this profile, keyctl included.
    let results = run_probe(&d, &["--security-opt", &option], &["keyctl"]);
    assert_ne!(errno_of(&results, "keyctl"), libc::EPERM, "{results:?}");

    // A broken profile is refused when the container is created.
    let broken = d.scratch_dir().join("broken.json");
    std::fs::write(&broken, "{\"defaultAction\": ").unwrap();
    let out = d.docker(&["create", "--security-opt", &format!("seccomp={}", broken.display()), "busybox", "true"]);
    assert!(!out.status.success(), "a broken profile was accepted");
    assert!(stderr_text(&out).contains("seccomp profile"), "{}", stderr_text(&out));
}

#[test]
fn exec_and_init_processes_are_filtered_too() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    let mount = format!("{}:/probe:ro", probe().display());
    d.docker_ok(&["run", "-d", "--name", "box", "-v", &mount, "busybox", "sleep", "300"]);
    let status = d.docker_ok(&["exec", "box", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(status.split_whitespace().nth(1), Some("2"), "docker exec: {status}");
    let results = parse_probe(&d.docker_ok(&["exec", "box", "/probe", "keyctl", "unshare_user", "getpid"]));
    assert_eq!(errno_of(&results, "keyctl"), libc::EPERM, "{results:?}");
    assert_eq!(errno_of(&results, "unshare_user"), libc::EPERM, "{results:?}");
    assert_eq!(errno_of(&results, "getpid"), 0);
    d.docker_ok(&["rm", "-f", "box"]);

    // no-new-privileges: the filter goes on after it, right before the exec.
    let (code, out, err) = run_sh(
        &d,
        &["--security-opt", "no-new-privileges"],
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '",
    );
    assert_eq!((code, out.as_str()), (0, "NoNewPrivs: 1\nSeccomp: 2\n"), "{err}");
    d.docker_ok(&["run", "-d", "--name", "nnp", "--security-opt", "no-new-privileges", "busybox", "sleep", "300"]);
    let status = d.docker_ok(&["exec", "nnp", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(status.split_whitespace().nth(1), Some("2"), "docker exec with no-new-privileges: {status}");
    d.docker_ok(&["rm", "-f", "nnp"]);

    // --init: the command runs under the filter.
    assert_eq!(seccomp_mode(&d, &["--init"]), "2");
}

#[test]
fn info_reports_the_confinement_and_lsm_options_are_checked() {
    if !running_as_root() {
        eprintln!("skipped: containers need root");
        return;
    }
    let d = Daemon::with_busybox();
    let options = d.docker_ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    let options: Vec<String> = serde_json::from_str(options.trim()).expect("SecurityOptions is a JSON list");
    assert!(options.contains(&"name=seccomp,profile=builtin".to_string()), "{options:?}");
    assert!(options.contains(&"name=cgroupns".to_string()), "{options:?}");

    let apparmor = Path::new("/sys/kernel/security/apparmor").is_dir();
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    assert_eq!(options.contains(&"name=apparmor".to_string()), apparmor, "{options:?}");
    if !apparmor {
        // A profile that could not be enforced is refused; `unconfined` is what the host has.
        let out = d.docker(&["run", "--rm", "--security-opt", "apparmor=my-profile", "busybox", "true"]);
        assert!(!out.status.success(), "apparmor=my-profile ran on a host without AppArmor");
        assert!(stderr_text(&out).contains("AppArmor is not enabled on the host"), "{}", stderr_text(&out));
        d.docker_ok(&["run", "--rm", "--security-opt", "apparmor=unconfined", "busybox", "true"]);
    }
    if !selinux {
        assert!(!options.contains(&"name=selinux".to_string()), "{options:?}");
        // Label options are checked and, without SELinux, have no effect (as with Docker).
        d.docker_ok(&["run", "--rm", "--security-opt", "label=level:s0:c1,c2", "busybox", "true"]);
        let out = d.docker(&["create", "--security-opt", "label=colour:red", "busybox", "true"]);
        assert!(!out.status.success(), "a bad label option was accepted");
        assert!(stderr_text(&out).contains("bad label option"), "{}", stderr_text(&out));
    }
}
