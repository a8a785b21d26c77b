//! The last step: find argv[0] in the container's PATH the way Go's exec.LookPath does (which is
//! what Docker users know), then execve it. Failures use runc's wording, from which the docker
//! CLI derives its exit code (127 not found, 126 not executable).

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::unistd::{AccessFlags, faccessat};

use super::error::{InitError, Result, errno_text};

/// The PATH used to find the command when the spec's environment has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The value of `key` in a `KEY=value` list (the last one wins, as for execve's reader).
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|entry| entry.strip_prefix(key)?.strip_prefix('='))
}

/// The command's environment: the spec's, plus HOME from /etc/passwd when it has none.
pub fn command_env(env: &[String], home: &str) -> Vec<String> {
    let mut env = env.to_vec();
    if env_value(&env, "HOME").is_none() {
        env.push(format!("HOME={home}"));
    }
    env
}

/// A command ready for execve: the program found, argv and environment as C strings.
#[derive(Debug, Clone)]
pub struct Command {
    /// What execve runs (argv[0] itself when it has a `/`, else the PATH match).
    pub path: String,
    c_path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

impl Command {
    /// Looks argv[0] up in the environment's PATH and converts everything for execve.
    pub fn prepare(args: &[String], env: &[String]) -> Result<Command> {
        let name = args.first().ok_or_else(|| InitError::Setup("no command specified".to_string()))?;
        let path = look_path(name, env_value(env, "PATH").unwrap_or(DEFAULT_PATH))?;
        let c_string = |s: &str| CString::new(s).map_err(|_| InitError::Setup(format!("NUL byte in {s:?}")));
        Ok(Command {
            c_path: c_string(&path)?,
            path,
            argv: args.iter().map(|a| c_string(a)).collect::<Result<_>>()?,
            env: env.iter().map(|e| c_string(e)).collect::<Result<_>>()?,
        })
    }

    /// Replaces this process with the command; returns only the failure.
    pub fn exec(&self) -> InitError {
        reset_signals();
        match nix::unistd::execve(&self.c_path, &self.argv, &self.env) {
            Err(errno) => exec_failure(&self.path, errno),
            Ok(never) => match never {},
        }
    }
}

/// Finds the program for `name`: names with a `/` are used as they are (execve reports what is
/// wrong with them); others are searched in `path_env` like Go's exec.LookPath.
pub fn look_path(name: &str, path_env: &str) -> Result<String> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let not_found = |detail: &str| InitError::Exec { message: format!("exec: {name:?}: {detail}"), code: 127 };
    if name.is_empty() {
        return Err(not_found("executable file not found in $PATH"));
    }
    for dir in path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if is_executable(&candidate) {
            if !candidate.is_absolute() {
                return Err(InitError::Exec {
                    message: format!("exec: {name:?}: cannot run executable found relative to current directory"),
                    code: 126,
                });
            }
            return Ok(candidate.to_string_lossy().into_owned());
        }
    }
    Err(not_found("executable file not found in $PATH"))
}

/// Go's findExecutable: not a directory, and executable for us (eaccess, or mode bits when the
/// kernel cannot say).
fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.is_dir() {
        return false;
    }
    match faccessat(nix::fcntl::AT_FDCWD, path, AccessFlags::X_OK, AtFlags::AT_EACCESS) {
        Ok(()) => true,
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

/// runc's message for a failed execve, with the exit status Docker uses for it.
pub fn exec_failure(path: &str, errno: Errno) -> InitError {
    let code = match errno {
        Errno::ENOENT => 127,
        Errno::EACCES | Errno::EISDIR => 126,
        _ => 1,
    };
    InitError::Exec { message: format!("exec {path}: {}", errno_text(errno)), code }
}

/// Restores every signal to its default action and unblocks all, so the command does not inherit
/// init's setup (Rust ignores SIGPIPE; the reaper blocks everything).
pub fn reset_signals() {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: restoring the default disposition; numbers the kernel rejects just fail.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
    // SAFETY: an empty, initialised set is valid for sigprocmask.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn message(err: InitError) -> (String, i32) {
        (err.to_string(), err.exit_code())
    }

    #[test]
    fn env_lookup() {
        let env: Vec<String> = ["PATH=/bin", "A=1", "A=2", "EMPTY="].iter().map(|s| s.to_string()).collect();
        assert_eq!(env_value(&env, "PATH"), Some("/bin"));
        assert_eq!(env_value(&env, "A"), Some("2"));
        assert_eq!(env_value(&env, "EMPTY"), Some(""));
        assert_eq!(env_value(&env, "PAT"), None);
        let with_home = command_env(&env, "/root");
        assert_eq!(env_value(&with_home, "HOME"), Some("/root"));
        let kept = command_env(&["HOME=/x".to_string()], "/root");
        assert_eq!(kept, ["HOME=/x"]);
    }

    #[test]
    fn searches_path_in_order_skipping_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        for d in [&a, &b, &c] {
            fs::create_dir(d).unwrap();
        }
        fs::write(a.join("tool"), "data").unwrap(); // not executable
        fs::create_dir(b.join("tool")).unwrap(); // a directory
        fs::write(c.join("tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(c.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}:{}", a.display(), b.display(), c.display());
        assert_eq!(look_path("tool", &path).unwrap(), c.join("tool").to_string_lossy());
    }

    #[test]
    fn not_found_uses_go_wording() {
        assert_eq!(
            message(look_path("nosuch", "/nonexistent:/also/not").unwrap_err()),
            ("exec: \"nosuch\": executable file not found in $PATH".to_string(), 127)
        );
    }

    #[test]
    fn slashes_skip_the_search() {
        assert_eq!(look_path("/bin/x", "").unwrap(), "/bin/x");
        assert_eq!(look_path("./x", "").unwrap(), "./x");
    }

    #[test]
    fn exec_failures_map_to_docker_codes() {
        assert_eq!(
            message(exec_failure("/bin/x", Errno::ENOENT)),
            ("exec /bin/x: no such file or directory".to_string(), 127)
        );
        assert_eq!(message(exec_failure("/etc", Errno::EACCES)), ("exec /etc: permission denied".to_string(), 126));
        assert_eq!(exec_failure("/x", Errno::ENOEXEC).exit_code(), 1);
    }

    #[test]
    fn prepare_refuses_an_empty_command() {
        assert!(Command::prepare(&[], &[]).is_err());
    }
}
