//! `docker top`: the host's `ps`, run with the user's arguments, cut down to the rows of the
//! container's processes (host pids), as dockerd does.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::{Engine, Error, Result};
use crate::runtime::cgroups::{Cgroup, container_cgroup_path};

/// The `ps` arguments when the client gives none.
const DEFAULT_PS_ARGS: &str = "-ef";

/// `docker top`'s reply: ps's header and the container's rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessList {
    /// The column titles.
    pub titles: Vec<String>,
    /// One row per process, one string per column.
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// Lists the container's processes with `ps ps_args` (default `-ef`); 409 when it is not
    /// running.
    pub async fn top_container(&self, tenant: &str, name: &str, ps_args: Option<&str>) -> Result<ProcessList> {
        let ps_args = ps_args.map(str::trim).filter(|a| !a.is_empty()).unwrap_or(DEFAULT_PS_ARGS);
        validate_ps_args(ps_args)?;
        let c = self.resolve_container(tenant, name).await?;
        if !c.is_running() {
            return Err(Error::Conflict(format!("container {} is not running", c.row.id)));
        }
        if c.row.state.status == "restarting" {
            return Err(Error::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.row.id
            )));
        }
        let layout = self
            .cgroups
            .clone()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("cgroups are not available on this host")))?;
        let id = c.row.id.clone();
        let args: Vec<String> = ps_args.split(' ').filter(|a| !a.is_empty()).map(str::to_string).collect();
        let (pids, output) = tokio::task::spawn_blocking(move || {
            let pids = Cgroup::open(&layout, &container_cgroup_path(&id))
                .pids()
                .map_err(|e| Error::Internal(anyhow::anyhow!("listing the container's processes: {e}")))?;
            let output =
                crate::runtime::ps::run_ps(&args, &pids).map_err(|e| Error::Internal(anyhow::anyhow!("ps: {e}")))?;
            Ok::<_, Error>((pids, output))
        })
        .await??;
        let list = parse_ps_output(&output, &pids).map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        self.emit_container(&c, "top", &[]).await;
        Ok(list)
    }
}

/// Refuses `ps` arguments that would rename another column to `PID` (`-o comm=PID`): the PID
/// column is how rows are matched to the container. Only `pid=PID…` may be written.
pub fn validate_ps_args(ps_args: &str) -> Result<()> {
    let words: Vec<&str> = ps_args.split_ascii_whitespace().collect();
    // Only words after whitespace count, as in dockerd's pattern `\s+(\S*)=\s*(PID\S*)`.
    let after_space = ps_args.starts_with(|c: char| c.is_ascii_whitespace());
    for (index, word) in words.iter().enumerate() {
        if index == 0 && !after_space {
            continue;
        }
        let Some((key, value)) = word.rsplit_once('=') else {
            continue;
        };
        let value = if value.is_empty() { words.get(index + 1).copied().unwrap_or("") } else { value };
        if value.starts_with("PID") && key != "pid" {
            return Err(Error::InvalidArgument(format!("specifying \"{key}={value}\" is not allowed")));
        }
    }
    Ok(())
}

/// Keeps ps's header and the rows whose PID is one of `pids`. A row whose PID is `-` (a thread
/// line of `ps m`) follows the process above it. Columns beyond the titles (a command with
/// spaces) are joined into the last one.
pub fn parse_ps_output(output: &str, pids: &[i32]) -> std::result::Result<ProcessList, String> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines.next().unwrap_or("").split_ascii_whitespace().map(str::to_string).collect();
    let pid_index =
        titles.iter().position(|title| title == "PID").ok_or("Couldn't find PID field in ps output".to_string())?;
    let mut processes = Vec::new();
    let mut previous_kept = false;
    for line in lines {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let Some(pid) = fields.get(pid_index) else {
            continue;
        };
        let keep = if *pid == "-" {
            previous_kept
        } else {
            let pid: i32 = pid.parse().map_err(|e| format!("Unexpected pid '{pid}': {e}"))?;
            previous_kept = pids.contains(&pid);
            previous_kept
        };
        if keep {
            processes.push(row(&fields, titles.len()));
        }
    }
    Ok(ProcessList { titles, processes })
}

/// Makes a row of exactly `columns` fields, the overhang joined with spaces into the last.
fn row(fields: &[&str], columns: usize) -> Vec<String> {
    let last = columns.saturating_sub(1).min(fields.len());
    let mut row: Vec<String> = fields[..last].iter().map(|f| f.to_string()).collect();
    row.push(fields[last..].join(" "));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4200  0 10:01 ?        00:00:00 sh -c while :; do sleep 1; done
root        4250    4242  0 10:01 ?        00:00:00 sleep 1
";

    #[test]
    fn keeps_the_header_and_the_container_rows() {
        let list = parse_ps_output(PS_EF, &[4242, 4250]).unwrap();
        assert_eq!(list.titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
        assert_eq!(list.processes.len(), 2);
        assert_eq!(list.processes[0][1], "4242");
        assert_eq!(list.processes[0][7], "sh -c while :; do sleep 1; done");
        assert_eq!(list.processes[1].len(), 8);
        assert!(parse_ps_output(PS_EF, &[]).unwrap().processes.is_empty());
    }

    #[test]
    fn thread_lines_follow_their_process() {
        let output = "USER PID TID CMD\nroot 10 - a\nroot - 10 -\nroot 11 - b\nroot - 11 -\n";
        let list = parse_ps_output(output, &[11]).unwrap();
        assert_eq!(list.processes, [vec!["root", "11", "-", "b"], vec!["root", "-", "11", "-"]]);
    }

    #[test]
    fn output_without_pid_or_with_garbage_is_an_error() {
        assert!(parse_ps_output("USER CMD\nroot x\n", &[1]).is_err());
        assert!(parse_ps_output("PID CMD\nabc x\n", &[1]).is_err());
    }

    #[test]
    fn ps_args_may_not_rename_a_column_to_pid() {
        assert!(validate_ps_args("-ef").is_ok());
        assert!(validate_ps_args("aux").is_ok());
        assert!(validate_ps_args("-o pid=PID,comm").is_ok());
        assert!(validate_ps_args("-o comm=PID").is_err());
        assert!(validate_ps_args("-o comm= PIDX").is_err());
        let error = validate_ps_args("-o user=PIDS").unwrap_err();
        assert_eq!(error.to_string(), "specifying \"user=PIDS\" is not allowed");
    }
}
