//! One container's cgroup: create, join, limit, freeze, kill, measure and remove it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::CgroupError;
use super::files;
use super::layout::Layout;
use super::resources::Resources;
use super::stats::CgroupStats;
use super::{v1, v2, wait};

/// A container's cgroup: the host layout plus its path below each hierarchy root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    layout: Layout,
    relative: PathBuf,
}

/// How long [`Cgroup::remove`] waits for the killed processes to leave.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Cgroup {
    /// Creates the cgroup `relative` (e.g. "kapsel/<id>") with every missing level, then applies `resources`.
    ///
    /// v2: enables cpuset, cpu, io, memory and pids in each ancestor's `cgroup.subtree_control`
    /// (those the ancestor has). v1: creates it in every hierarchy; cpuset levels inherit their
    /// parent's cpus/mems first. An existing directory is reused. When a limit can't be applied
    /// the new leaf is removed again and the error names the file and value.
    pub fn create(layout: &Layout, relative: &str, resources: &Resources) -> Result<Cgroup, CgroupError> {
        let cgroup = Cgroup { layout: layout.clone(), relative: checked_relative(relative)? };
        match &cgroup.layout {
            Layout::V1 { mounts } => v1::make_dirs(cgroup.v1_dirs(mounts))?,
            Layout::V2 { root } => {
                v2::make_dirs(root, &cgroup.relative)?;
            }
        }
        if let Err(error) = cgroup.update(resources) {
            // Leave no half-configured leaf behind; it holds no process yet.
            for dir in cgroup.procs_dirs() {
                let _ = files::remove_dir(&dir);
            }
            return Err(error);
        }
        Ok(cgroup)
    }

    /// Refers to an existing cgroup, e.g. of a container found again after a daemon restart.
    pub fn open(layout: &Layout, relative: &str) -> Cgroup {
        Cgroup { layout: layout.clone(), relative: PathBuf::from(relative.trim_start_matches('/')) }
    }

    /// The host layout the cgroup lives in.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The path below each hierarchy root, e.g. "kapsel/<id>".
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// The directories whose `cgroup.procs` get the init pid: one per v1 hierarchy, or the v2 one.
    pub fn procs_dirs(&self) -> Vec<PathBuf> {
        match &self.layout {
            Layout::V1 { mounts } => self.v1_dirs(mounts).all(),
            Layout::V2 { root } => vec![root.join(&self.relative)],
        }
    }

    /// Moves process `pid` (its whole thread group) into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.procs_dirs() {
            files::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Changes the limits live (`docker update`); only fields that are set change.
    pub fn update(&self, resources: &Resources) -> Result<(), CgroupError> {
        match &self.layout {
            Layout::V1 { mounts } => v1::apply(self.v1_dirs(mounts), resources),
            Layout::V2 { root } => v2::apply(&root.join(&self.relative), resources),
        }
    }

    /// How many processes of the cgroup the OOM killer has killed.
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        match &self.layout {
            Layout::V1 { mounts } => v1::oom_kill_count(self.v1_dirs(mounts)),
            Layout::V2 { root } => v2::oom_kill_count(&root.join(&self.relative)),
        }
    }

    /// The file whose `oom_kill` counter tells of OOM kills (v1 memory.oom_control, v2
    /// memory.events): the shim reads it when the container exits, without this module.
    pub fn oom_events_file(&self) -> Option<PathBuf> {
        match &self.layout {
            Layout::V1 { mounts } => mounts.get("memory").map(|m| m.join(&self.relative).join("memory.oom_control")),
            Layout::V2 { root } => Some(root.join(&self.relative).join("memory.events")),
        }
    }

    /// The processes in the cgroup, sorted (v1: over all hierarchies).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        for dir in self.procs_dirs() {
            pids.extend(files::read_procs(&dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Stops every process of the cgroup (`docker pause`), returning once they are frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.layout {
            Layout::V1 { mounts } => v1::freeze(self.v1_dirs(mounts)),
            Layout::V2 { root } => v2::freeze(&root.join(&self.relative)),
        }
    }

    /// Lets the processes run again (`docker unpause`).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.layout {
            Layout::V1 { mounts } => v1::thaw(self.v1_dirs(mounts)),
            Layout::V2 { root } => v2::thaw(&root.join(&self.relative)),
        }
    }

    /// SIGKILLs every process of the cgroup; a cgroup already gone has none.
    ///
    /// v2 with cgroup.kill (5.14+) does it atomically. Otherwise the cgroup is frozen (when a
    /// freezer exists) so nothing can fork while we signal, each pid gets SIGKILL, and it is
    /// thawed so the signals are delivered.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let result = self.kill_all_inner();
        match result {
            Err(error) if error.is_not_found() && !self.exists() => Ok(()),
            result => result,
        }
    }

    /// [`Cgroup::kill_all`] without the "already gone" tolerance.
    fn kill_all_inner(&self) -> Result<(), CgroupError> {
        if let Layout::V2 { root } = &self.layout
            && v2::kill_via_cgroup_kill(&root.join(&self.relative))?
        {
            return Ok(());
        }
        let frozen = match self.freeze() {
            Ok(()) => true,
            Err(CgroupError::MissingController { .. }) => false,
            Err(error) if error.is_not_found() => return Err(error),
            Err(error) => {
                // A freeze that never completes must not keep us from killing.
                tracing::warn!(%error, "killing the cgroup's processes without freezing it");
                false
            }
        };
        let killed = self.pids().and_then(|pids| {
            pids.into_iter().try_for_each(|pid| match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(source) => Err(CgroupError::Kill { pid, source }),
            })
        });
        if frozen {
            self.thaw()?;
        }
        killed
    }

    /// Kills everything in the cgroup, waits (≤ 5 s) until it is empty, and removes its directories.
    ///
    /// Only the leaf goes: the shared parent (e.g. "kapsel") stays. A cgroup already gone is fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill_all()?;
        let dirs = self.procs_dirs();
        let first = dirs.first().cloned().unwrap_or_default();
        wait::until(&first, "the cgroup to empty", REMOVE_TIMEOUT, || Ok(self.pids()?.is_empty()))?;
        dirs.iter().try_for_each(|dir| remove_dir_retrying(dir))
    }

    /// Reads the usage counters for `docker stats`.
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        match &self.layout {
            Layout::V1 { mounts } => v1::stats(self.v1_dirs(mounts)),
            Layout::V2 { root } => v2::stats(&root.join(&self.relative)),
        }
    }

    /// True while any of the cgroup's directories exists.
    pub fn exists(&self) -> bool {
        self.procs_dirs().iter().any(|dir| dir.is_dir())
    }

    /// The v1 view of this cgroup.
    fn v1_dirs<'a>(&'a self, mounts: &'a std::collections::BTreeMap<String, PathBuf>) -> v1::Dirs<'a> {
        v1::Dirs { mounts, relative: &self.relative }
    }
}

/// rmdir, retried on EBUSY (briefly seen while the kernel finishes tearing exited tasks down).
fn remove_dir_retrying(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        match files::remove_dir(dir) {
            Err(CgroupError::RemoveDir { source, .. })
                if source.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < REMOVE_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Accepts "a/b" paths only: segments that are not empty, ".", or ".." (which could leave the hierarchy).
fn checked_relative(relative: &str) -> Result<PathBuf, CgroupError> {
    let plain = relative.split('/').all(|segment| !matches!(segment, "" | "." | ".."));
    if !plain {
        return Err(CgroupError::Invalid(format!("cgroup path {relative:?} must be relative, like \"kapsel/<id>\"")));
    }
    Ok(PathBuf::from(relative))
}
