#!/usr/bin/env python3
"""The measuring half of scripts/bench.sh (which starts and stops the daemons).

Two subcommands, standard library only:

  bench.py workloads --out-dir DIR --engine NAME,DOCKER_HOST,PID[,PID] [...]
      Runs the workloads through the docker CLI against each engine and writes
      DIR/engine-NAME.json with its figures. `docker run --rm` alternates
      between the engines run by run; the other workloads go one engine at a
      time.

  bench.py report --out FILE ENGINE.json [ENGINE.json ...]
      Merges the per-engine documents into one results file and prints the
      table (kapsel, dockerd, kapsel/dockerd ratio, target).

Timing is wall time of the whole `docker` CLI process (time.perf_counter
around subprocess.run), i.e. what a user waits for: client start-up, API
round trips, create, start, wait, remove.

Memory is read from /proc: the per-container helper processes are found by
their command line (kapsel: `kapsel shim <data-root>/containers/<id>`;
dockerd: `containerd-shim-runc-v2 ... -id <id>`), restricted to the
containers this run started, and their smaps_rollup summed. The container's
own process (`sleep`, a child of the helper) is counted separately and is NOT
part of the helper figures; MemAvailable's drop includes everything (helpers,
container processes, daemon growth, kernel objects, page cache churn).
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

DOCKER = os.environ.get("DOCKER", "docker")
KIB_PER_MIB = 1024.0


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Result:
    def __init__(self, ok, out, err, seconds):
        self.ok = ok
        self.out = out
        self.err = err
        self.seconds = seconds


# The engine the docker calls go to (DOCKER_HOST); set by use().
CURRENT_HOST = None


def use(args):
    """Points the following docker calls at the engine whose settings `args` are."""
    global CURRENT_HOST
    CURRENT_HOST = args.host


def docker(args, timeout):
    """Runs one docker CLI command; never raises on failure or timeout."""
    env = dict(os.environ, DOCKER_HOST=CURRENT_HOST) if CURRENT_HOST else None
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            [DOCKER, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        dt = time.perf_counter() - t0
        return Result(p.returncode == 0, p.stdout, p.stderr.strip() or f"exit {p.returncode}", dt)
    except subprocess.TimeoutExpired:
        return Result(False, "", f"timed out after {timeout} s: docker {' '.join(args)}", time.perf_counter() - t0)


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(samples_s):
    values = sorted(s * 1000.0 for s in samples_s)
    if not values:
        return {}
    return {
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "min_ms": round(values[0], 2),
        "max_ms": round(values[-1], 2),
        "mean_ms": round(statistics.fmean(values), 2),
        "stdev_ms": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
    }


def add_error(errors, message, keep=5):
    if len(errors) < keep:
        errors.append(message[:500])


# ---------------------------------------------------------------- /proc reading


def read_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def read_ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def processes():
    """pid -> (ppid, argv) for every process visible now."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        ppid = read_ppid(pid)
        if ppid is None:
            continue
        table[pid] = (ppid, read_cmdline(pid))
    return table


def smaps_rollup(pid):
    """kB figures of one process: Rss, Pss, USS (private clean + dirty), Swap."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    return {
        "rss_kb": fields.get("Rss", 0),
        "pss_kb": fields.get("Pss", 0),
        "uss_kb": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "swap_kb": fields.get("Swap", 0),
    }


def sum_mem(pids):
    total = {"rss_kb": 0, "pss_kb": 0, "uss_kb": 0, "swap_kb": 0, "processes": 0}
    for pid in pids:
        m = smaps_rollup(pid)
        if m is None:
            continue
        for k, v in m.items():
            total[k] += v
        total["processes"] += 1
    return total


def mem_available_kb(samples=5, interval=0.2):
    """Median of a few MemAvailable readings (kB)."""
    values = []
    for i in range(samples):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    values.append(int(line.split()[1]))
                    break
        if i + 1 < samples:
            time.sleep(interval)
    return statistics.median(values)


def helper_pids(engine, table, ids):
    """The per-container helper processes of the given container ids."""
    found = {}
    for pid, (_ppid, argv) in table.items():
        if len(argv) < 2:
            continue
        exe = os.path.basename(argv[0])
        if engine == "kapsel":
            if exe.startswith("kapsel") and argv[1] == "shim" and len(argv) >= 3:
                cid = os.path.basename(argv[2].rstrip("/"))
                if cid in ids:
                    found[pid] = cid
        else:
            if exe.startswith("containerd-shim") and "-id" in argv:
                i = argv.index("-id")
                if i + 1 < len(argv) and argv[i + 1] in ids:
                    found[pid] = argv[i + 1]
    return found


def descendants(table, roots):
    children = {}
    for pid, (ppid, _argv) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = set(), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def daemon_pids(table, roots, exclude):
    """The daemons and their descendants (dockerd's containerd), minus helpers and containers."""
    roots = [pid for pid in roots if pid in table]
    return (set(roots) | descendants(table, roots)) - exclude


# ---------------------------------------------------------------- workloads


def server_version(timeout):
    r = docker(["version", "--format", "{{.Server.Version}}"], timeout)
    return r.out.strip() if r.ok else None


def running_ids(timeout):
    r = docker(["ps", "-q", "--no-trunc"], timeout)
    return r.out.split() if r.ok else None


def all_ids(timeout):
    r = docker(["ps", "-aq", "--no-trunc"], timeout)
    return r.out.split() if r.ok else None


def remove(ids, timeout, batch=25):
    """docker rm -f in batches; returns (seconds, errors)."""
    errors = []
    t0 = time.perf_counter()
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        r = docker(["rm", "-f", *chunk], timeout * 4)
        if not r.ok:
            add_error(errors, r.err)
    return time.perf_counter() - t0, errors


def remove_all(timeout):
    ids = all_ids(timeout) or []
    if ids:
        remove(ids, timeout)


def record_ids(path, ids):
    if path:
        with open(path, "a") as f:
            for cid in ids:
                f.write(cid + "\n")


def start_detached(args, count, concurrency, timeout, ids_file):
    """Starts `count` detached sleeping containers, `concurrency` at a time."""
    cmd = ["run", "-d", *args.run_flags, args.image, "sleep", "600"]
    errors = []

    lock = threading.Lock()

    def one(_):
        r = docker(cmd, timeout)
        if r.ok and r.out.strip():
            # Recorded at once, so that an interrupted run can still clean up after itself.
            with lock:
                record_ids(ids_file, [r.out.strip().splitlines()[-1]])
        return r

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(count)))
    wall = time.perf_counter() - t0
    ids, latencies = [], []
    for r in results:
        if r.ok and r.out.strip():
            ids.append(r.out.strip().splitlines()[-1])
            latencies.append(r.seconds)
        else:
            add_error(errors, r.err)
    return ids, latencies, wall, errors, len(results) - len(ids)


def workload_cli_floor(args, n=20):
    """`docker version` timed like the runs: the CLI's own start-up plus one API round trip."""
    samples = []
    for _ in range(n + 2):
        r = docker(["version", "--format", "{{.Server.Version}}"], args.timeout)
        if r.ok:
            samples.append(r.seconds)
    out = {"command": "docker version", "runs": n, "ok": len(samples[2:])}
    out.update(summary_ms(samples[2:]))
    return out


def workload_run_rm(engines):
    """`docker run --rm IMAGE true` on every engine, interleaved run by run (A B B A A B ...), so
    that a change of load on the machine weighs on every engine alike."""
    first = engines[0]
    cmd = ["run", "--rm", *first.run_flags, first.image, "true"]
    names = " and ".join(e.engine for e in engines)
    log(f"[{names}] docker run --rm {first.image} true: {first.warmup} warm-up + {first.runs} timed runs each")
    state = {e.engine: {"errors": [], "samples": [], "failed": 0, "since": int(time.time()) - 1} for e in engines}
    for e in engines:
        use(e)
        for _ in range(e.warmup):
            r = docker(cmd, e.timeout)
            if not r.ok:
                add_error(state[e.engine]["errors"], "warm-up: " + r.err)
    for i in range(first.runs):
        order = engines if i % 2 == 0 else list(reversed(engines))
        for e in order:
            use(e)
            st = state[e.engine]
            r = docker(cmd, e.timeout)
            if r.ok:
                st["samples"].append(r.seconds)
            else:
                st["failed"] += 1
                add_error(st["errors"], r.err)
    until = int(time.time()) + 1
    return {e.engine: finish_run_rm(e, cmd, state[e.engine], until) for e in engines}


def finish_run_rm(args, cmd, st, until):
    use(args)
    samples = st["samples"]
    leftovers = all_ids(args.timeout)
    # The ids of the --rm containers, for the leftover check (cgroups). Best effort: dockerd
    # keeps only its last 256 events, and an engine without the endpoint gives none.
    ev = docker(
        ["events", "--since", str(st["since"]), "--until", str(until), "--filter", "type=container",
         "--filter", "event=create", "--format", "{{.ID}}"],
        args.timeout,
    )
    if ev.ok:
        record_ids(args.ids_file, sorted(set(ev.out.split())))
    out = {
        "command": "docker " + " ".join(cmd),
        "runs": args.runs,
        "warmup": args.warmup,
        "interleaved": True,
        "ok": len(samples),
        "failed": st["failed"],
        "errors": st["errors"],
        "samples_ms": [round(x * 1000.0, 2) for x in samples],
        "containers_left_after": None if leftovers is None else len(leftovers),
        "ids_from_events": len(set(ev.out.split())) if ev.ok else None,
    }
    out.update(summary_ms(samples))
    if len(samples) >= 8:
        # A drift check: does the engine slow down as containers come and go?
        q = len(samples) // 4
        out["median_first_quarter_ms"] = round(statistics.median(samples[:q]) * 1000.0, 2)
        out["median_last_quarter_ms"] = round(statistics.median(samples[-q:]) * 1000.0, 2)
    if leftovers:
        remove(leftovers, args.timeout)
    return out


def workload_detached(args):
    n, c = args.detached, args.concurrency
    log(f"[{args.engine}] {n} detached starts, {c} at a time")
    ids, latencies, wall, errors, failed = start_detached(args, n, c, args.timeout, args.ids_file)
    out = {
        "command": "docker run -d " + " ".join(args.run_flags + [args.image, "sleep", "600"]),
        "count": n,
        "concurrency": c,
        "ok": len(ids),
        "failed": failed,
        "errors": errors,
        "wall_s": round(wall, 3),
        "starts_per_s": round(len(ids) / wall, 2) if wall > 0 else None,
    }
    if latencies:
        out["per_start"] = summary_ms(latencies)
    removal_s, rm_errors = remove(ids, args.timeout)
    out["remove_s_untimed_info"] = round(removal_s, 3)
    out["remove_errors"] = rm_errors
    return out


def wait_running(expected, timeout_s, call_timeout):
    deadline = time.monotonic() + timeout_s
    while True:
        ids = running_ids(call_timeout) or []
        if len(ids) >= expected or time.monotonic() > deadline:
            return ids
        time.sleep(0.5)


class MemoryBaseline:
    """MemAvailable and the daemon's memory before containers are started."""

    def __init__(self, args):
        time.sleep(args.settle)
        self.daemon = sum_mem(daemon_pids(processes(), args.daemon_pid, set()))
        self.avail = mem_available_kb()


def memory_figures(args, baseline, ids):
    """Per-container memory of the running containers `ids`, against `baseline`."""
    time.sleep(args.settle)
    avail_after = mem_available_kb()
    table = processes()
    helpers = helper_pids(args.engine, table, set(ids))
    containers = descendants(table, list(helpers))
    helper_mem = sum_mem(helpers)
    container_mem = sum_mem(containers)
    daemon_after = sum_mem(daemon_pids(table, args.daemon_pid, set(helpers) | containers))
    n = max(len(ids), 1)

    def per(kb):
        return round(kb / KIB_PER_MIB / n, 3)

    return {
        "helper_processes": helper_mem["processes"],
        "helper_pss_mib_per_container": per(helper_mem["pss_kb"]),
        "helper_rss_mib_per_container": per(helper_mem["rss_kb"]),
        "helper_uss_mib_per_container": per(helper_mem["uss_kb"]),
        "container_processes": container_mem["processes"],
        "container_proc_pss_mib_per_container": per(container_mem["pss_kb"]),
        "container_proc_rss_mib_per_container": per(container_mem["rss_kb"]),
        "helper_plus_container_pss_mib_per_container": per(helper_mem["pss_kb"] + container_mem["pss_kb"]),
        "memavailable_drop_mib_per_container": per(baseline.avail - avail_after),
        "daemon_rss_growth_mib_per_container": per(daemon_after["rss_kb"] - baseline.daemon["rss_kb"]),
        "daemon_pss_growth_mib_per_container": per(daemon_after["pss_kb"] - baseline.daemon["pss_kb"]),
        "daemon_rss_mib_after": round(daemon_after["rss_kb"] / KIB_PER_MIB, 1),
        "daemon_processes": daemon_after["processes"],
        "helper_pids_sample": sorted(helpers)[:3],
        "container_process_included_in_helper_figures": False,
    }


def workload_memory(args):
    k = args.mem_containers
    log(f"[{args.engine}] memory: {k} sleeping containers")
    remove_all(args.timeout)
    baseline = MemoryBaseline(args)
    ids, _lat, wall, errors, failed = start_detached(args, k, args.concurrency, args.timeout, args.ids_file)
    running = wait_running(len(ids), 30, args.timeout)
    out = {
        "containers": k,
        "started": len(ids),
        "failed": failed,
        "errors": errors,
        "running": len(running),
        "start_wall_s": round(wall, 3),
    }
    out.update(memory_figures(args, baseline, ids))
    removal_s, rm_errors = remove(ids, args.timeout)
    out["remove_s_untimed_info"] = round(removal_s, 3)
    out["remove_errors"] = rm_errors
    return out


def workload_many(args):
    n = args.many
    log(f"[{args.engine}] {n} sleeping containers at once, {args.concurrency} at a time")
    remove_all(args.timeout)
    baseline = MemoryBaseline(args)
    ids, latencies, wall, errors, failed = start_detached(args, n, args.concurrency, args.timeout, args.ids_file)
    running = wait_running(len(ids), 60, args.timeout * 2)
    out = {
        "count": n,
        "concurrency": args.concurrency,
        "started": len(ids),
        "failed": failed,
        "errors": errors,
        "start_wall_s": round(wall, 3),
        "starts_per_s": round(len(ids) / wall, 2) if wall > 0 else None,
        "running_per_docker_ps": len(running),
        "success": len(ids) == n and len(running) == n,
    }
    if latencies:
        out["per_start"] = summary_ms(latencies)
    t0 = time.perf_counter()
    r = docker(["ps", "-q"], args.timeout * 2)
    out["docker_ps_ms"] = round((time.perf_counter() - t0) * 1000.0, 1) if r.ok else None
    out["memory"] = memory_figures(args, baseline, ids)
    removal_s, rm_errors = remove(ids, args.timeout)
    out["remove_s"] = round(removal_s, 3)
    out["remove_errors"] = rm_errors
    left = all_ids(args.timeout)
    out["containers_left_after_remove"] = None if left is None else len(left)
    return out


def engine_settings(args, spec):
    """NAME,HOST,PID[,PID...] -> this engine's copy of the settings."""
    parts = spec.split(",")
    if len(parts) < 3 or parts[0] not in ("kapsel", "dockerd"):
        raise SystemExit(f"bench.py: --engine wants NAME,HOST,PID[,PID...] with NAME kapsel or dockerd: {spec}")
    e = argparse.Namespace(**vars(args))
    e.engine, e.host = parts[0], parts[1]
    e.daemon_pid = [int(p) for p in parts[2:] if p]
    e.ids_file = os.path.join(args.out_dir, f"ids-{e.engine}.txt")
    e.run_flags = ["--network", args.network] if args.network else []
    if e.engine != "kapsel":
        e.many = 0
    return e


def cmd_workloads(args):
    engines = [engine_settings(args, spec) for spec in args.engine]
    docs = {}
    for e in engines:
        use(e)
        version = server_version(e.timeout)
        if version is None:
            log(f"[{e.engine}] the daemon does not answer at {e.host}")
            return 1
        docs[e.engine] = {
            "engine": e.engine,
            "server_version": version,
            "docker_host": e.host,
            "network": args.network or "(engine default)",
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        docs[e.engine]["cli_floor"] = workload_cli_floor(e)
    for name, result in workload_run_rm(engines).items():
        docs[name]["run_rm"] = result
    # The rest one engine at a time: they load the machine, and memory is measured alone.
    for e in engines:
        use(e)
        doc = docs[e.engine]
        doc["detached"] = workload_detached(e)
        doc["memory"] = workload_memory(e)
        if e.many > 0:
            doc["many"] = workload_many(e)
        remove_all(e.timeout)
        doc["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        with open(os.path.join(args.out_dir, f"engine-{e.engine}.json"), "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


# ---------------------------------------------------------------- report


def dig(doc, path):
    cur = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


# (label, path, unit format, lower is better, target on the kapsel figure, target on the ratio)
ROWS = [
    ("docker version (CLI floor): median (ms)", "cli_floor.median_ms", "{:.1f}", None, None),
    ("run --rm true: median (ms)", "run_rm.median_ms", "{:.1f}", 30.0, 0.25),
    ("run --rm true: p90 (ms)", "run_rm.p90_ms", "{:.1f}", None, None),
    ("run --rm true: min (ms)", "run_rm.min_ms", "{:.1f}", None, None),
    ("run --rm true: failed runs", "run_rm.failed", "{:d}", None, None),
    ("{n} detached, {c} at a time: wall (s)", "detached.wall_s", "{:.2f}", None, None),
    ("{n} detached, {c} at a time: starts/s", "detached.starts_per_s", "{:.1f}", None, None),
    ("{n} detached: per-start median (ms)", "detached.per_start.median_ms", "{:.1f}", None, None),
    ("helper PSS per container (MiB)", "memory.helper_pss_mib_per_container", "{:.2f}", 2.0, None),
    ("helper RSS per container (MiB)", "memory.helper_rss_mib_per_container", "{:.2f}", None, None),
    ("helper USS per container (MiB)", "memory.helper_uss_mib_per_container", "{:.2f}", None, None),
    ("MemAvailable drop per container (MiB)", "memory.memavailable_drop_mib_per_container", "{:.2f}", None, None),
    ("daemon RSS growth per container (MiB)", "memory.daemon_rss_growth_mib_per_container", "{:.2f}", None, None),
    ("container process PSS (sleep; MiB)", "memory.container_proc_pss_mib_per_container", "{:.2f}", None, None),
]


def fmt(value, pattern):
    if value is None:
        return "-"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return str(value)


def cmd_report(args):
    docs = {}
    for path in args.inputs:
        with open(path) as f:
            doc = json.load(f)
        docs[doc["engine"]] = doc
    kapsel = docs.get("kapsel", {})
    dockerd = docs.get("dockerd")

    leftovers = {}
    for path in args.leftovers or []:
        name = os.path.basename(path).removeprefix("leftovers-").removesuffix(".txt")
        with open(path) as f:
            leftovers[name] = [line.rstrip("\n") for line in f if line.strip()]

    rows, checks = [], []
    for label, path, pattern, abs_target, ratio_target in ROWS:
        label = label.format(n=dig(kapsel, "detached.count"), c=dig(kapsel, "detached.concurrency"))
        k = dig(kapsel, path)
        d = dig(dockerd, path) if dockerd else None
        ratio = None
        if isinstance(k, (int, float)) and isinstance(d, (int, float)) and d:
            ratio = k / d
        target = []
        if abs_target is not None:
            target.append(f"<= {abs_target:g}")
            if isinstance(k, (int, float)):
                checks.append((label, f"kapsel <= {abs_target:g}", k <= abs_target))
        if ratio_target is not None:
            target.append(f"<= {ratio_target:g}x")
            if ratio is not None:
                checks.append((label, f"kapsel/dockerd <= {ratio_target:g}", ratio <= ratio_target))
        rows.append(
            {
                "workload": label,
                "kapsel": k,
                "dockerd": d,
                "ratio": None if ratio is None else round(ratio, 3),
                "target": " and ".join(target),
            }
        )

    many = kapsel.get("many")
    results = {
        "machine": {
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "mem_total_mib": round(_meminfo("MemTotal") / KIB_PER_MIB),
        },
        "settings": vars(args).get("settings") and json.loads(args.settings),
        "table": rows,
        "targets": [{"workload": l, "target": t, "met": m} for l, t, m in checks],
        "engines": docs,
        "leftovers": leftovers,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    # The printed table.
    head = ("workload", "kapsel", "dockerd", "kapsel/dockerd", "target")
    lines = []
    for row, (_l, _p, pattern, _a, _r) in zip(rows, ROWS):
        lines.append(
            (
                row["workload"],
                fmt(row["kapsel"], pattern),
                fmt(row["dockerd"], pattern) if dockerd else "n/a",
                fmt(row["ratio"], "{:.2f}x"),
                row["target"],
            )
        )
    if many:
        ok = "ok" if many.get("success") else f"FAILED ({many['started']} started)"
        lines.append(
            (
                f"{many['count']} sleeping at once ({many['concurrency']} at a time)",
                f"{ok} in {many['start_wall_s']:.1f} s",
                "n/a",
                "-",
                "all running",
            )
        )
        pss = dig(many, "memory.helper_pss_mib_per_container")
        lines.append((f"  helper PSS per container at {many['count']} (MiB)", fmt(pss, "{:.2f}"), "n/a", "-", "<= 2"))
        drop = dig(many, "memory.memavailable_drop_mib_per_container")
        lines.append((f"  MemAvailable drop per container at {many['count']} (MiB)", fmt(drop, "{:.2f}"), "n/a", "-", ""))
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    sep = "  "
    print()
    print(
        f"kapsel {kapsel.get('server_version', '?')}"
        + (f" vs dockerd {dockerd.get('server_version', '?')}" if dockerd else " (dockerd not run)")
        + f"; {os.cpu_count()} cores; network: {kapsel.get('network', '?')}"
    )
    print(sep.join(h.ljust(w) for h, w in zip(head, widths)))
    print(sep.join("-" * w for w in widths))
    for line in lines:
        print(sep.join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    print()
    print("Helper = per-container process (kapsel shim; containerd-shim-runc-v2), without the container's own")
    print("process (sleep), which is listed apart; MemAvailable drop includes everything and is noisy.")
    print("Ratios are kapsel/dockerd: below 1 is better everywhere except starts/s.")
    if checks:
        print("Targets: " + "; ".join(f"{l} {t}: {'met' if m else 'MISSED'}" for l, t, m in checks))
    for engine, doc in docs.items():
        for key in ("run_rm", "detached", "memory", "many"):
            part = doc.get(key) or {}
            errs = (part.get("errors") or []) + (part.get("remove_errors") or [])
            if errs:
                print(f"{engine} {key}: {part.get('failed', 0)} failed; first errors:")
                for e in errs:
                    print(f"  {e.splitlines()[0] if e else e}")
        left = dig(doc, "run_rm.containers_left_after")
        if left:
            print(f"{engine}: {left} container(s) left after the `run --rm` runs")
    for engine, items in leftovers.items():
        if items:
            print(f"{engine}: leftovers after removing its containers:")
            for item in items[:20]:
                print(f"  {item}")
    print(f"Results: {args.out}")
    return 0


def _meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workloads")
    w.add_argument("--engine", action="append", required=True, help="NAME,DOCKER_HOST,PID[,PID...]; repeatable")
    w.add_argument("--out-dir", required=True, help="engine-NAME.json and ids-NAME.txt go here")
    w.add_argument("--image", default="busybox")
    w.add_argument("--network", default="none", help="--network for every run; empty for the engine default")
    w.add_argument("--runs", type=int, default=50)
    w.add_argument("--warmup", type=int, default=3)
    w.add_argument("--detached", type=int, default=40)
    w.add_argument("--concurrency", type=int, default=8)
    w.add_argument("--mem-containers", type=int, default=50)
    w.add_argument("--many", type=int, default=0)
    w.add_argument("--timeout", type=float, default=60.0, help="seconds for one docker call")
    w.add_argument("--settle", type=float, default=3.0, help="seconds to wait before memory readings")
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--settings", help="JSON object of the run's settings, stored as is")
    r.add_argument("--leftovers", action="append", help="leftovers-ENGINE.txt files")
    r.add_argument("inputs", nargs="+")
    args = p.parse_args()
    return cmd_workloads(args) if args.cmd == "workloads" else cmd_report(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
