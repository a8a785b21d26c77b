//! cgroup v2 behaviour over a fake tree: a temp dir holding the interface files the kernel would create.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

const MIB: i64 = 1024 * 1024;

/// A temp dir laid out like a cgroup2 mount holding `relative`, with each level's interface files.
///
/// cgroupfs creates these itself on mkdir; plain directories don't, and the production code never
/// creates files, so the fake has them ready (create() reuses existing directories).
struct FakeTree {
    dir: TempDir,
    leaf: PathBuf,
}

impl FakeTree {
    fn new(relative: &str) -> FakeTree {
        let dir = tempfile::tempdir().unwrap();
        let mut level = dir.path().to_owned();
        write(&level.join("cgroup.controllers"), "cpuset cpu io memory pids hugetlb\n");
        write(&level.join("cgroup.subtree_control"), "");
        for component in relative.split('/') {
            level.push(component);
            fs::create_dir(&level).unwrap();
            write(&level.join("cgroup.controllers"), "cpuset cpu io memory pids\n");
            write(&level.join("cgroup.subtree_control"), "");
        }
        for (file, content) in [
            ("cgroup.procs", ""),
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            ("cgroup.kill", ""),
            ("memory.max", "max\n"),
            ("memory.swap.max", "max\n"),
            ("memory.low", "0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
            ("cpu.max", "max 100000\n"),
            ("cpu.weight", "100\n"),
            ("cpuset.cpus", "\n"),
            ("cpuset.mems", "\n"),
            ("pids.max", "max\n"),
            ("io.weight", "default 100\n"),
        ] {
            write(&level.join(file), content);
        }
        FakeTree { dir, leaf: level }
    }

    fn layout(&self) -> Layout {
        Layout::V2 { root: self.dir.path().to_owned() }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.leaf.join(file)).unwrap()
    }

    fn set(&self, file: &str, content: &str) {
        write(&self.leaf.join(file), content);
    }
}

fn write(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
}

#[test]
fn memory_limit_never_touches_swap() {
    let tree = FakeTree::new("kapsel/c1");
    tree.set("memory.swap.max", "untouched");
    let resources = Resources { memory: Some(64 * MIB), memory_reservation: Some(32 * MIB), ..Default::default() };
    Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap();
    assert_eq!(tree.read("memory.max"), "67108864");
    assert_eq!(tree.read("memory.low"), "33554432");
    assert_eq!(tree.read("memory.swap.max"), "untouched");
}

#[test]
fn swap_max_counts_swap_alone() {
    let tree = FakeTree::new("kapsel/c1");
    let resources = Resources { memory: Some(100 * MIB), memory_swap: Some(300 * MIB), ..Default::default() };
    let cgroup = Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap();
    assert_eq!(tree.read("memory.max"), (100 * MIB).to_string());
    assert_eq!(tree.read("memory.swap.max"), (200 * MIB).to_string());

    cgroup.update(&Resources { memory_swap: Some(-1), ..Default::default() }).unwrap();
    assert_eq!(tree.read("memory.swap.max"), "max");
    assert_eq!(tree.read("memory.max"), (100 * MIB).to_string());

    // Swap alone again: the memory limit in force (memory.max) is the base.
    cgroup.update(&Resources { memory_swap: Some(150 * MIB), ..Default::default() }).unwrap();
    assert_eq!(tree.read("memory.swap.max"), (50 * MIB).to_string());
}

#[test]
fn invalid_swap_writes_nothing() {
    let tree = FakeTree::new("kapsel/c1");
    let below = Resources { memory: Some(100 * MIB), memory_swap: Some(50 * MIB), ..Default::default() };
    let error = Cgroup::create(&tree.layout(), "kapsel/c1", &below).unwrap_err();
    assert!(matches!(error, CgroupError::Invalid(_)), "{error}");
    assert_eq!(tree.read("memory.max"), "max\n");

    let without_memory = Resources { memory_swap: Some(50 * MIB), ..Default::default() };
    let error = Cgroup::open(&tree.layout(), "kapsel/c1").update(&without_memory).unwrap_err();
    assert!(matches!(error, CgroupError::Invalid(_)), "{error}");
    assert_eq!(tree.read("memory.swap.max"), "max\n");
}

#[test]
fn cpus_become_cpu_max_and_shares_cpu_weight() {
    let tree = FakeTree::new("kapsel/c1");
    let resources = Resources {
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(1024),
        cpuset_cpus: Some("0-1".to_owned()),
        cpuset_mems: Some("0".to_owned()),
        ..Default::default()
    };
    let cgroup = Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap();
    assert_eq!(tree.read("cpu.max"), "50000 100000");
    assert_eq!(tree.read("cpu.weight"), "100");
    assert_eq!(tree.read("cpuset.cpus"), "0-1");
    assert_eq!(tree.read("cpuset.mems"), "0");

    for (shares, weight) in [(2, "1"), (262_144, "10000")] {
        cgroup.update(&Resources { cpu_shares: Some(shares), ..Default::default() }).unwrap();
        assert_eq!(tree.read("cpu.weight"), weight);
    }
}

#[test]
fn quota_and_period_alone_keep_the_other_half() {
    let tree = FakeTree::new("kapsel/c1");
    let cgroup = Cgroup::create(&tree.layout(), "kapsel/c1", &Resources::default()).unwrap();
    assert_eq!(tree.read("cpu.max"), "max 100000\n", "no cpu limit, no write");
    cgroup.update(&Resources { cpu_quota: Some(20_000), ..Default::default() }).unwrap();
    assert_eq!(tree.read("cpu.max"), "20000 100000");
    cgroup.update(&Resources { cpu_period: Some(50_000), ..Default::default() }).unwrap();
    assert_eq!(tree.read("cpu.max"), "20000 50000");
    cgroup.update(&Resources { cpu_quota: Some(-1), ..Default::default() }).unwrap();
    assert_eq!(tree.read("cpu.max"), "max 50000");
}

#[test]
fn pids_limit_and_update_only_changes_what_is_set() {
    let tree = FakeTree::new("kapsel/c1");
    let resources = Resources { memory: Some(64 * MIB), pids_limit: Some(64), ..Default::default() };
    let cgroup = Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap();
    assert_eq!(tree.read("pids.max"), "64");
    cgroup.update(&Resources { pids_limit: Some(0), ..Default::default() }).unwrap();
    assert_eq!(tree.read("pids.max"), "max");
    assert_eq!(tree.read("memory.max"), "67108864");
}

#[test]
fn blkio_weight_goes_to_io_weight_or_bfq() {
    let tree = FakeTree::new("kapsel/c1");
    let resources = Resources { blkio_weight: Some(500), ..Default::default() };
    Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap();
    assert_eq!(tree.read("io.weight"), "4950");

    let tree = FakeTree::new("kapsel/c2");
    tree.set("io.bfq.weight", "default 100\n");
    Cgroup::create(&tree.layout(), "kapsel/c2", &resources).unwrap();
    assert_eq!(tree.read("io.bfq.weight"), "500");
    assert_eq!(tree.read("io.weight"), "default 100\n");

    // Neither file: skipped with a warning, not an error.
    let tree = FakeTree::new("kapsel/c3");
    fs::remove_file(tree.leaf.join("io.weight")).unwrap();
    Cgroup::create(&tree.layout(), "kapsel/c3", &resources).unwrap();
}

#[test]
fn ancestors_delegate_the_controllers_they_have() {
    let tree = FakeTree::new("kapsel/c1");
    // The parent offers only some controllers: only those get enabled below it.
    write(&tree.root().join("kapsel/cgroup.controllers"), "cpu memory pids\n");
    Cgroup::create(&tree.layout(), "kapsel/c1", &Resources::default()).unwrap();
    let root = fs::read_to_string(tree.root().join("cgroup.subtree_control")).unwrap();
    assert_eq!(root, "+cpuset +cpu +io +memory +pids");
    let parent = fs::read_to_string(tree.root().join("kapsel/cgroup.subtree_control")).unwrap();
    assert_eq!(parent, "+cpu +memory +pids");
    // The leaf's own subtree_control is left alone (it will hold processes).
    assert_eq!(tree.read("cgroup.subtree_control"), "");
}

#[test]
fn controllers_already_enabled_are_not_rewritten() {
    let tree = FakeTree::new("kapsel/c1");
    write(&tree.root().join("cgroup.subtree_control"), "cpuset cpu io memory pids\n");
    Cgroup::create(&tree.layout(), "kapsel/c1", &Resources::default()).unwrap();
    let root = fs::read_to_string(tree.root().join("cgroup.subtree_control")).unwrap();
    assert_eq!(root, "cpuset cpu io memory pids\n");
}

#[test]
fn procs_dir_add_process_and_pids() {
    let tree = FakeTree::new("kapsel/c1");
    let cgroup = Cgroup::create(&tree.layout(), "kapsel/c1", &Resources::default()).unwrap();
    assert_eq!(cgroup.procs_dirs(), std::slice::from_ref(&tree.leaf));
    cgroup.add_process(4242).unwrap();
    assert_eq!(tree.read("cgroup.procs"), "4242");
    tree.set("cgroup.procs", "7\n3\n");
    assert_eq!(cgroup.pids().unwrap(), [3, 7]);
}

#[test]
fn oom_kill_from_memory_events() {
    let tree = FakeTree::new("kapsel/c1");
    tree.set("memory.events", "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n");
    let cgroup = Cgroup::open(&tree.layout(), "kapsel/c1");
    assert_eq!(cgroup.oom_kill_count().unwrap(), 2);
}

#[test]
fn freeze_waits_for_frozen_and_thaw_clears() {
    let tree = FakeTree::new("kapsel/c1");
    tree.set("cgroup.events", "populated 1\nfrozen 1\n");
    let cgroup = Cgroup::open(&tree.layout(), "kapsel/c1");
    cgroup.freeze().unwrap();
    assert_eq!(tree.read("cgroup.freeze"), "1");
    cgroup.thaw().unwrap();
    assert_eq!(tree.read("cgroup.freeze"), "0");
}

#[test]
fn kill_all_uses_cgroup_kill() {
    let tree = FakeTree::new("kapsel/c1");
    let cgroup = Cgroup::open(&tree.layout(), "kapsel/c1");
    cgroup.kill_all().unwrap();
    assert_eq!(tree.read("cgroup.kill"), "1");
}

#[test]
fn removing_a_cgroup_already_gone_is_fine() {
    let tree = FakeTree::new("kapsel/c1");
    let gone = Cgroup::open(&tree.layout(), "kapsel/never-created");
    gone.remove().unwrap();
    assert!(!gone.exists());
}

#[test]
fn stats_from_sample_files() {
    let tree = FakeTree::new("kapsel/c1");
    tree.set(
        "cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n\
         nr_throttled 4\nthrottled_usec 250\nnr_bursts 0\nburst_usec 0\n",
    );
    tree.set("memory.current", "8388608\n");
    tree.set("memory.peak", "9437184\n");
    tree.set("memory.max", "67108864\n");
    tree.set("memory.stat", "anon 4194304\nfile 4194304\ninactive_file 1048576\nactive_file 3145728\n");
    tree.set("memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n");
    tree.set("pids.current", "3\n");
    tree.set("pids.max", "max\n");
    tree.set("io.stat", "8:0 rbytes=4096 wbytes=12288 rios=1 wios=3 dbytes=0 dios=0\n");
    let stats = Cgroup::open(&tree.layout(), "kapsel/c1").stats().unwrap();
    assert_eq!(stats.cpu.usage_ns, 1_500_000);
    assert_eq!(stats.cpu.user_ns, 1_000_000);
    assert_eq!(stats.cpu.system_ns, 500_000);
    assert_eq!(stats.cpu.periods, 10);
    assert_eq!(stats.cpu.throttled_periods, 4);
    assert_eq!(stats.cpu.throttled_ns, 250_000);
    assert_eq!(stats.memory.usage, 8 * MIB as u64);
    assert_eq!(stats.memory.max_usage, Some(9 * MIB as u64));
    assert_eq!(stats.memory.limit, Some(64 * MIB as u64));
    assert_eq!(stats.memory.stat["inactive_file"], MIB as u64);
    assert_eq!(stats.memory.oom_kills, 1);
    assert_eq!(stats.pids.current, 3);
    assert_eq!(stats.pids.limit, None);
    assert_eq!(stats.io.read_bytes(), 4096);
    assert_eq!(stats.io.write_bytes(), 12288);

    tree.set("memory.max", "max\n");
    let stats = Cgroup::open(&tree.layout(), "kapsel/c1").stats().unwrap();
    assert_eq!(stats.memory.limit, None);
    assert!(Cgroup::open(&tree.layout(), "kapsel/gone").stats().is_err());
}

#[test]
fn paths_must_stay_below_the_root() {
    let tree = FakeTree::new("kapsel/c1");
    for bad in ["", "/abs", "../escape", "kapsel/../../x", "kapsel/./c1", "kapsel//c1"] {
        let error = Cgroup::create(&tree.layout(), bad, &Resources::default()).unwrap_err();
        assert!(matches!(error, CgroupError::Invalid(_)), "{bad}: {error}");
    }
    assert_eq!(container_cgroup_path("abc"), "kapsel/abc");
}

#[test]
fn write_errors_name_file_and_value() {
    let tree = FakeTree::new("kapsel/c1");
    fs::remove_file(tree.leaf.join("pids.max")).unwrap();
    let resources = Resources { pids_limit: Some(-1), ..Default::default() };
    let error = Cgroup::create(&tree.layout(), "kapsel/c1", &resources).unwrap_err();
    let message = error.to_string();
    let expected = format!("writing \"max\" to {}: ", tree.leaf.join("pids.max").display());
    assert!(message.starts_with(&expected), "{message}");
}
