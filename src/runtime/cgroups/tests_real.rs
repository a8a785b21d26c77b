//! Cgroups for real on this host (v1 or hybrid here, v2 in the test VM): needs root, else skips with a note.
//!
//! Each test works below its own `kapsel-test-<random>` parent and removes everything it made,
//! even when an assertion fails.

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

const MIB: i64 = 1024 * 1024;

/// The host's layout when the test can run here (root, cgroup `version` or any), else `None` after saying why.
fn real_host(test: &str, version: Option<u8>) -> Option<Layout> {
    if !nix::unistd::geteuid().is_root() {
        println!("skipping {test}: needs root to create cgroups");
        return None;
    }
    match Layout::detect() {
        Ok(layout) if version.is_none_or(|v| v == layout.version()) => Some(layout),
        Ok(layout) => {
            println!("skipping {test}: this is a cgroup v{} host", layout.version());
            None
        }
        Err(error) => {
            println!("skipping {test}: no cgroups ({error})");
            None
        }
    }
}

/// A unique test parent; on drop kills what is left and removes every directory it made.
struct Scratch {
    layout: Layout,
    parent: String,
    children: Vec<Child>,
}

impl Scratch {
    fn new(layout: &Layout) -> Scratch {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        Scratch {
            layout: layout.clone(),
            parent: format!("kapsel-test-{}-{nanos:x}", std::process::id()),
            children: Vec::new(),
        }
    }

    fn path(&self, id: &str) -> String {
        format!("{}/{id}", self.parent)
    }

    fn parent_dirs(&self) -> Vec<PathBuf> {
        Cgroup::open(&self.layout, &self.parent).procs_dirs()
    }

    /// Spawns `sh -c script` with piped stdin, kept for cleanup.
    fn spawn(&mut self, script: &str) -> i32 {
        let child = Command::new("sh").args(["-c", script]).stdin(Stdio::piped()).spawn().unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in self.parent_dirs() {
            if let Ok(entries) = fs::read_dir(&dir) {
                for entry in entries.flatten().filter(|e| e.path().is_dir()) {
                    let _ = fs::remove_dir(entry.path());
                }
            }
            let _ = fs::remove_dir(&dir);
        }
    }
}

fn read(dir: &std::path::Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap().trim().to_owned()
}

fn dir_of(layout: &Layout, controller: &str, relative: &str) -> PathBuf {
    let Layout::V1 { mounts } = layout else { unreachable!() };
    mounts[controller].join(relative)
}

#[test]
fn v1_limits_join_freeze_update_and_remove() {
    let Some(layout) = real_host("v1_limits_join_freeze_update_and_remove", Some(1)) else {
        return;
    };
    let mut scratch = Scratch::new(&layout);
    let relative = scratch.path("c1");
    let resources = Resources {
        memory: Some(64 * MIB),
        memory_swap: Some(128 * MIB),
        memory_reservation: Some(32 * MIB),
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".to_owned()),
        cpuset_mems: Some("0".to_owned()),
        pids_limit: Some(64),
        blkio_weight: Some(500),
        ..Default::default()
    };
    let cgroup = Cgroup::create(&layout, &relative, &resources).unwrap();

    let memory = dir_of(&layout, "memory", &relative);
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
    if memory.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(read(&memory, "memory.memsw.limit_in_bytes"), "134217728");
    }
    assert_eq!(read(&memory, "memory.soft_limit_in_bytes"), "33554432");
    let cpu = dir_of(&layout, "cpu", &relative);
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&dir_of(&layout, "pids", &relative), "pids.max"), "64");
    let cpuset = dir_of(&layout, "cpuset", &relative);
    assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(read(&cpuset, "cpuset.mems"), "0");
    // The test parent inherited the root's cpuset, or the leaf could not have been joined.
    let cpuset_parent = dir_of(&layout, "cpuset", &scratch.parent);
    let cpuset_root = dir_of(&layout, "cpuset", "");
    assert_eq!(read(&cpuset_parent, "cpuset.cpus"), read(&cpuset_root, "cpuset.cpus"));
    let blkio = dir_of(&layout, "blkio", &relative);
    for file in ["blkio.weight", "blkio.bfq.weight"] {
        if blkio.join(file).exists() {
            assert!(read(&blkio, file).contains("500"), "{file}");
            break;
        }
    }
    assert_eq!(cgroup.procs_dirs().len(), layout.v1_hierarchies().len());

    // A process joins every hierarchy.
    let pid = scratch.spawn("exec sleep 1000");
    cgroup.add_process(pid).unwrap();
    assert_eq!(cgroup.pids().unwrap(), [pid]);
    for dir in cgroup.procs_dirs() {
        assert_eq!(read(&dir, "cgroup.procs"), pid.to_string(), "{}", dir.display());
    }

    // Pause and unpause.
    let freezer = dir_of(&layout, "freezer", &relative);
    cgroup.freeze().unwrap();
    assert_eq!(read(&freezer, "freezer.state"), "FROZEN");
    cgroup.thaw().unwrap();
    assert_eq!(read(&freezer, "freezer.state"), "THAWED");

    // docker update: raising needs memsw first, lowering needs the limit first.
    cgroup
        .update(&Resources {
            memory: Some(256 * MIB),
            memory_swap: Some(512 * MIB),
            pids_limit: Some(0),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "268435456");
    assert_eq!(read(&dir_of(&layout, "pids", &relative), "pids.max"), "max");
    cgroup
        .update(&Resources {
            memory: Some(32 * MIB),
            memory_swap: Some(48 * MIB),
            cpu_quota: Some(-1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "33554432");
    if memory.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(read(&memory, "memory.memsw.limit_in_bytes"), "50331648");
    }
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "-1");
    assert_eq!(read(&cpu, "cpu.shares"), "512", "untouched by update");

    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.memory.limit, Some(32 * MIB as u64));
    assert!(stats.memory.max_usage.is_some());
    assert!(stats.memory.stat.contains_key("total_inactive_file"));
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, None);
    assert_eq!(stats.cpu.per_cpu_ns.len(), num_cpus_online());
    assert_eq!(cgroup.oom_kill_count().unwrap(), 0);

    // remove() kills the process and leaves no directory behind.
    let mut child = scratch.children.pop().unwrap();
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    cgroup.remove().unwrap();
    let status = reaper.join().unwrap();
    assert_eq!(status.signal(), Some(9));
    assert!(!cgroup.exists());
    for dir in cgroup.procs_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // Removing again is fine; the shared parent stays until we remove it.
    cgroup.remove().unwrap();
    assert!(scratch.parent_dirs().iter().all(|dir| dir.exists()));
    drop(scratch);
    let parent_dirs = Cgroup::open(&layout, &relative).procs_dirs();
    assert!(parent_dirs.iter().all(|dir| !dir.parent().unwrap().exists()));
}

#[test]
fn oom_kill_is_counted() {
    let Some(layout) = real_host("oom_kill_is_counted", None) else {
        return;
    };
    let mut scratch = Scratch::new(&layout);
    let resources = Resources { memory: Some(16 * MIB), memory_swap: Some(16 * MIB), ..Default::default() };
    let cgroup = Cgroup::create(&layout, &scratch.path("oom"), &resources).unwrap();
    // Waits for a line on stdin, so it is in the cgroup before it allocates.
    let pid = scratch.spawn("read go; exec tail /dev/zero");
    cgroup.add_process(pid).unwrap();
    let child = scratch.children.last_mut().unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(cgroup.oom_kill_count().unwrap() >= 1);
    assert!(cgroup.stats().unwrap().memory.oom_kills >= 1);
    cgroup.remove().unwrap();
}

#[test]
fn remove_kills_a_process_tree() {
    let Some(layout) = real_host("remove_kills_a_process_tree", None) else {
        return;
    };
    let mut scratch = Scratch::new(&layout);
    let cgroup = Cgroup::create(&layout, &scratch.path("tree"), &Resources::default()).unwrap();
    let pid = scratch.spawn("read go; sleep 1000 & sleep 1000 & wait");
    cgroup.add_process(pid).unwrap();
    let child = scratch.children.last_mut().unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let three = || Ok(cgroup.pids()?.len() == 3);
    wait::until(std::path::Path::new("-"), "3 pids", std::time::Duration::from_secs(5), three).unwrap();
    let mut child = scratch.children.pop().unwrap();
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    cgroup.remove().unwrap();
    assert_eq!(reaper.join().unwrap().signal(), Some(9));
    assert!(!cgroup.exists());
}

fn num_cpus_online() -> usize {
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    online.max(1) as usize
}

#[test]
fn v2_limits_join_freeze_update_and_remove() {
    let Some(layout) = real_host("v2_limits_join_freeze_update_and_remove", Some(2)) else {
        return;
    };
    let mut scratch = Scratch::new(&layout);
    let relative = scratch.path("c1");
    let resources = Resources {
        memory: Some(64 * MIB),
        memory_reservation: Some(32 * MIB),
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(1024),
        cpuset_cpus: Some("0".to_owned()),
        cpuset_mems: Some("0".to_owned()),
        pids_limit: Some(64),
        blkio_weight: Some(500),
        ..Default::default()
    };
    let cgroup = Cgroup::create(&layout, &relative, &resources).unwrap();
    let [dir] = &cgroup.procs_dirs()[..] else { panic!("one directory on v2") };
    let dir = dir.clone();
    assert_eq!(read(&dir, "memory.max"), "67108864");
    assert_eq!(read(&dir, "memory.low"), "33554432");
    if dir.join("memory.swap.max").exists() {
        assert_eq!(read(&dir, "memory.swap.max"), "max", "swap left alone");
    }
    assert_eq!(read(&dir, "cpu.max"), "50000 100000");
    assert_eq!(read(&dir, "cpu.weight"), "100");
    assert_eq!(read(&dir, "pids.max"), "64");
    assert_eq!(read(&dir, "cpuset.cpus"), "0");
    assert_eq!(read(&dir, "cpuset.mems"), "0");
    if dir.join("io.bfq.weight").exists() {
        assert!(read(&dir, "io.bfq.weight").contains("500"));
    } else if dir.join("io.weight").exists() {
        assert!(read(&dir, "io.weight").contains("4950"));
    }
    let parent = dir.parent().unwrap();
    let enabled = read(parent, "cgroup.subtree_control");
    for controller in ["cpuset", "cpu", "io", "memory", "pids"] {
        assert!(enabled.split_whitespace().any(|c| c == controller), "{enabled}");
    }

    let pid = scratch.spawn("exec sleep 1000");
    cgroup.add_process(pid).unwrap();
    assert_eq!(cgroup.pids().unwrap(), [pid]);

    cgroup.freeze().unwrap();
    assert!(read(&dir, "cgroup.events").contains("frozen 1"));
    cgroup.thaw().unwrap();
    let events = dir.join("cgroup.events");
    wait::until(&events, "frozen 0", std::time::Duration::from_secs(5), || {
        Ok(read(&dir, "cgroup.events").contains("frozen 0"))
    })
    .unwrap();

    cgroup
        .update(&Resources {
            memory: Some(256 * MIB),
            memory_swap: Some(512 * MIB),
            pids_limit: Some(0),
            cpu_quota: Some(-1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(read(&dir, "memory.max"), "268435456");
    if dir.join("memory.swap.max").exists() {
        assert_eq!(read(&dir, "memory.swap.max"), "268435456");
    }
    assert_eq!(read(&dir, "pids.max"), "max");
    assert_eq!(read(&dir, "cpu.max"), "max 100000");
    assert_eq!(read(&dir, "cpu.weight"), "100", "untouched by update");

    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.memory.limit, Some(256 * MIB as u64));
    assert!(stats.memory.stat.contains_key("inactive_file"));
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, None);
    assert_eq!(cgroup.oom_kill_count().unwrap(), 0);

    let mut child = scratch.children.pop().unwrap();
    let reaper = std::thread::spawn(move || child.wait().unwrap());
    cgroup.remove().unwrap();
    assert_eq!(reaper.join().unwrap().signal(), Some(9));
    assert!(!dir.exists());
    cgroup.remove().unwrap();
    assert!(parent.exists(), "the shared parent stays");
    drop(scratch);
    assert!(!parent.exists());
}
