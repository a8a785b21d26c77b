//! The host's `ps`, for `docker top`: dockerd runs it on the host with the user's arguments and
//! the container's pids, and so does kapsel.

use std::process::Command;

/// Runs `ps ARGS -q<pids>`; when that fails (some options, such as `f`, refuse `-q`), runs
/// `ps ARGS` alone. The output, or the first line of ps's complaint.
pub fn run_ps(args: &[String], pids: &[i32]) -> Result<String, String> {
    let selected = format!("-q{}", pids.iter().map(i32::to_string).collect::<Vec<_>>().join(","));
    if let Ok(output) = run(args, Some(&selected)) {
        return Ok(output);
    }
    run(args, None)
}

/// One `ps` run; its stdout when it succeeds.
fn run(args: &[String], extra: Option<&str>) -> Result<String, String> {
    let mut command = Command::new("ps");
    command.args(args).args(extra);
    let output = command.output().map_err(|e| format!("running ps: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    match stderr.lines().next().filter(|line| !line.is_empty()) {
        Some(line) => Err(line.to_string()),
        None => Err(format!("ps exited with {}", output.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_selected_pid() {
        let me = std::process::id() as i32;
        let output = run_ps(&["-o".into(), "pid,comm".into()], &[me]).unwrap();
        let mut lines = output.lines();
        assert!(lines.next().unwrap().contains("PID"));
        assert!(output.lines().skip(1).any(|line| line.split_whitespace().next() == Some(&me.to_string())));
    }

    #[test]
    fn bad_arguments_give_ps_complaint() {
        let error = run_ps(&["--no-such-option-kapsel".into()], &[1]).unwrap_err();
        assert!(!error.is_empty());
    }
}
