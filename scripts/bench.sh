#!/usr/bin/env bash
# kapsel's benchmark, through the real docker CLI: `sudo scripts/bench.sh`.
#
# What it measures (each engine on its own temporary data root and socket;
# every run uses `--network none` so that both engines do the same work):
#   1. `docker run --rm busybox true`: BENCH_RUNS timed runs (default 50)
#      after 3 warm-ups; median, p90 and min of the CLI's wall time (ms).
#      With dockerd, the runs alternate between the two engines (A B B A ...)
#      so that other load on the machine weighs on both alike. For scale,
#      `docker version` is timed too: the CLI's own start-up, the floor.
#   2. 40 detached starts 8 at a time (`docker run -d busybox sleep 600`):
#      total wall time and starts/s. Removal afterwards is not timed.
#   3. Host memory per running container, with BENCH_MEM_CONTAINERS (default
#      50) sleeping containers: the PSS, RSS and USS (private) of the
#      per-container helper processes (kapsel: `kapsel shim`; dockerd:
#      `containerd-shim-runc-v2`) divided by their number, from
#      /proc/PID/smaps_rollup. The container's own process (`sleep`, the same
#      for both engines) is NOT in these figures; it is listed apart. Also the
#      drop of MemAvailable divided by the number of containers, which counts
#      everything (helpers, container processes, daemon growth, kernel
#      objects) but moves with whatever else the machine does: noisy.
#   4. Optional (BENCH_MANY=500, kapsel only): that many sleeping containers
#      at once, 8 started at a time; checks that `docker ps -q` lists them all
#      and gives the memory figures of 3. at that count.
#
# When Debian's dockerd (package docker.io) is installed (or BENCH_INSTALL_DOCKERD=1
# installs it), the same workloads run in the same run against a dockerd of our own: its own
# data root, exec root, socket and containerd, no bridge, no iptables; the
# host's /var/run/docker.sock is never touched. The table then shows
# kapsel/dockerd ratios: below 1 means kapsel is faster or smaller.
#
# Output: a table on stdout, target/bench/results.json (every figure, the raw
# samples, errors, load averages and leftovers), the daemons' logs in
# target/bench/.
#
# Reading it: lower is better in every row but starts/s. Times are whole CLI
# invocations, so they include the CLI's start-up (the `docker version` row).
# Absolute times move with other load on the machine (the load average is
# printed and kept); the ratios much less, as the runs alternate. Helper PSS
# is the fair "memory added per container" figure (shared pages split among
# the processes that map them); RSS counts shared pages in full for each.
# Errors and anything left behind (processes, mounts, cgroups) are listed
# under the table.
#
# Targets (2 cores): median `run --rm true` <= 30 ms and <= 0.25x dockerd;
# <= 2 MB host memory per running container; 500 sleeping containers at once.
#
# Settings (environment):
#   BENCH_RUNS=50  BENCH_WARMUP=3  BENCH_DETACHED=40  BENCH_CONCURRENCY=8
#   BENCH_MEM_CONTAINERS=50  BENCH_MANY=0  BENCH_TIMEOUT=60 (s, one docker call)
#   BENCH_DOCKERD=auto|0|1 (1: fail without dockerd)  BENCH_INSTALL_DOCKERD=0|1
#   BENCH_PRIVATE_CONTAINERD=1 (start containerd for dockerd ourselves; automatic when the
#   host runs one)  BENCH_NETWORK=none ('' = each engine's default)  KAPSEL_BIN=path (skip the build)
# Needs root (the daemons run containers). Everything it starts is stopped and
# everything it creates under /tmp is removed on exit, also on Ctrl-C.
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "scripts/bench.sh needs root: the daemons it measures run containers." >&2
    echo "Please run: sudo scripts/bench.sh" >&2
    exit 1
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

runs=${BENCH_RUNS:-50}
warmup=${BENCH_WARMUP:-3}
detached=${BENCH_DETACHED:-40}
concurrency=${BENCH_CONCURRENCY:-8}
mem_containers=${BENCH_MEM_CONTAINERS:-50}
many=${BENCH_MANY:-0}
call_timeout=${BENCH_TIMEOUT:-60}
want_dockerd=${BENCH_DOCKERD:-auto}
install_dockerd=${BENCH_INSTALL_DOCKERD:-0}
network=${BENCH_NETWORK-none}
out_dir=$repo_root/target/bench
image_tar=$repo_root/target/test-image/busybox.tar

log() { echo "bench: $*" >&2; }
die() {
    log "$*"
    exit 1
}

for tool in docker python3 timeout findmnt; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed (scripts/install-test-deps.sh installs the docker CLI)"
done

if [[ -z ${KAPSEL_BIN:-} ]]; then
    source "$repo_root/scripts/lib/toolchain.sh"
fi

# ------------------------------------------------------------ state and cleanup

# Short paths: containerd's socket lives under the exec root and unix socket
# paths are limited to 108 bytes.
work=$(mktemp -d /tmp/kbench.XXXXXX)
kapsel_root=$work/k
dockerd_root=$work/d
dockerd_exec=$work/x
kapsel_pid=""
dockerd_pid=""
containerd_pid=""
export DOCKER_CONFIG=$work/cli
export DOCKER_CLI_HINTS=false
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
mkdir -p "$DOCKER_CONFIG" "$out_dir"
rm -f "$out_dir"/engine-*.json "$out_dir"/ids-*.txt "$out_dir"/leftovers-*.txt "$out_dir"/results.json "$out_dir"/*.log

dk() { timeout --kill-after=5 "$call_timeout" docker "$@"; }

# Processes of ours still alive: anything whose command line names the work
# directory (daemons, shims, containerd) or whose root is inside it (container
# processes, their root being an overlay under a data root).
our_pids() {
    local dir=$1 p pid root
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$dir/"; then
            echo "$pid"
            continue
        fi
        root=$(readlink "$p/root" 2>/dev/null) || continue
        [[ $root == "$dir"/* ]] && echo "$pid"
    done
    return 0
}

mounts_under() {
    # Mount points under $1, deepest first.
    awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | uniq
}

unmount_under() {
    local dir=$1 m
    for _ in 1 2 3; do
        local any=0
        while IFS= read -r m; do
            [[ -z $m ]] && continue
            any=1
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done < <(mounts_under "$dir")
        [[ $any -eq 0 ]] && return 0
    done
    [[ -z $(mounts_under "$dir") ]]
}

# Stops a process we started: SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
    local pid=$1 grace=${2:-30} i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop in ${grace} s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

remove_all_containers() {
    local host=$1 ids
    ids=$(DOCKER_HOST=$host dk ps -aq 2>/dev/null) || return 0
    [[ -z $ids ]] && return 0
    DOCKER_HOST=$host timeout 300 xargs -n 25 docker rm -f <<<"$ids" >/dev/null 2>&1 || true
}

# Writes what is left of an engine after its containers were removed:
# processes, mounts, cgroup directories of the containers it ran.
# Usage: check_leftovers ENGINE WHEN DIR[:DIR...] [PID to ignore...]
check_leftovers() {
    local engine=$1 when=$2 dirs dir pid file=$out_dir/leftovers-$1.txt
    IFS=: read -r -a dirs <<<"$3"
    shift 3
    local keep=" $* "
    for dir in "${dirs[@]}"; do
        for pid in $(our_pids "$dir"); do
            [[ $keep == *" $pid "* ]] && continue
            echo "$when: process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-200)" >>"$file"
        done
        if [[ $when == "daemon stopped" ]]; then
            mounts_under "$dir" | sed "s|^|$when: mount |" >>"$file" || true
        fi
    done
    if [[ -s $out_dir/ids-$engine.txt ]]; then
        find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d 2>/dev/null |
            grep -Ff "$out_dir/ids-$engine.txt" | sed "s|^|$when: cgroup |" >>"$file" || true
    fi
    touch "$file"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    if [[ -n $kapsel_pid ]]; then
        remove_all_containers "unix://$kapsel_root/kapsel.sock"
        stop_pid "$kapsel_pid" 30
    fi
    if [[ -n $dockerd_pid ]]; then
        remove_all_containers "unix://$dockerd_root.sock"
        stop_pid "$dockerd_pid" 30
    fi
    stop_pid "$containerd_pid" 10
    local pid left
    left=$(our_pids "$work")
    if [[ -n $left ]]; then
        log "killing leftover processes: ${left//$'\n'/ }"
        for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
        sleep 0.5
    fi
    # Cgroups of our containers that their daemon did not get to remove (empty once the
    # processes are gone; rmdir removes nothing else).
    if compgen -G "$out_dir/ids-*.txt" >/dev/null; then
        find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d 2>/dev/null |
            grep -Fhf <(cat "$out_dir"/ids-*.txt) | sort -r | xargs -r rmdir 2>/dev/null
    fi
    if unmount_under "$work"; then
        rm -rf "$work"
    else
        log "mounts remain under $work; not removing it:"
        mounts_under "$work" >&2
        status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ daemons

wait_daemon() {
    local name=$1 host=$2 pid=$3 logf=$4 i
    for ((i = 0; i < 120; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$logf" >&2 || true
            die "$name exited during start-up (log: $logf)"
        fi
        if DOCKER_HOST=$host timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.25
    done
    tail -n 30 "$logf" >&2 || true
    die "$name did not answer at $host within 30 s (log: $logf)"
}

import_image() {
    local host=$1
    DOCKER_HOST=$host dk import "$image_tar" busybox >/dev/null || die "docker import into $host failed"
    DOCKER_HOST=$host dk run --rm ${network:+--network "$network"} busybox true ||
        die "a first 'docker run --rm busybox true' against $host failed"
}

dockerd_available() {
    command -v dockerd >/dev/null 2>&1 && command -v containerd >/dev/null 2>&1
}

install_docker_io() {
    log "installing Debian's docker.io (its service must not start)"
    export DEBIAN_FRONTEND=noninteractive
    local before policy=/usr/sbin/policy-rc.d added=0 pid
    before=$( (pgrep -x dockerd; pgrep -x containerd) | sort || true)
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        added=1
    fi
    apt-get install -y --no-install-recommends docker.io ||
        { apt-get update && apt-get install -y --no-install-recommends docker.io; } || true
    if [[ $added -eq 1 ]]; then rm -f "$policy"; fi
    systemctl disable --now docker docker.socket containerd 2>/dev/null || true
    for pid in $( (pgrep -x dockerd; pgrep -x containerd) | sort || true); do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping $(cat "/proc/$pid/comm" 2>/dev/null) $pid started by the install"
            kill "$pid" 2>/dev/null || true
        fi
    done
}

# ------------------------------------------------------------ kapsel

if [[ -n ${KAPSEL_BIN:-} ]]; then
    kapsel_src=$KAPSEL_BIN
else
    log "cargo build --release"
    cargo build --release
    kapsel_src=$repo_root/target/release/kapsel
fi
[[ -x $kapsel_src ]] || die "no kapsel binary at $kapsel_src"
# A private copy: a rebuild during the run cannot swap the binary under the shims.
mkdir -p "$work/bin"
cp "$kapsel_src" "$work/bin/kapsel"

scripts/make-test-image.sh >&2

if [[ $want_dockerd != 0 ]] && ! dockerd_available && [[ $install_dockerd == 1 ]]; then
    install_docker_io
fi
use_dockerd=0
if [[ $want_dockerd != 0 ]] && dockerd_available; then
    use_dockerd=1
elif [[ $want_dockerd == 1 ]]; then
    die "BENCH_DOCKERD=1 but dockerd is not installed (BENCH_INSTALL_DOCKERD=1 installs Debian's docker.io)"
fi

log "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

mkdir -p "$kapsel_root"
kapsel_host=unix://$kapsel_root/kapsel.sock
env -u KAPSEL_HOST -u KAPSEL_DATABASE_URL -u KAPSEL_WORKERS -u KAPSEL_QUEUE_DEPTH -u KAPSEL_LOG_LEVEL \
    "$work/bin/kapsel" serve --data-root "$kapsel_root" -H "$kapsel_host" \
    >"$out_dir/kapsel.log" 2>&1 &
kapsel_pid=$!
wait_daemon kapsel "$kapsel_host" "$kapsel_pid" "$out_dir/kapsel.log"
import_image "$kapsel_host"
engines=(--engine "kapsel,$kapsel_host,$kapsel_pid")

# ------------------------------------------------------------ dockerd

if [[ $use_dockerd -eq 1 ]]; then
    mkdir -p "$dockerd_root" "$dockerd_exec"
    echo '{}' >"$work/daemon.json"
    dockerd_host=unix://$dockerd_root.sock
    containerd_flag=()
    if [[ ${BENCH_PRIVATE_CONTAINERD:-0} == 1 || -e /run/containerd/containerd.sock ]]; then
        # dockerd would use the host's containerd: run a private one instead.
        mkdir -p "$work/c/root" "$work/c/state"
        printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$work/c/config.toml"
        containerd --root "$work/c/root" --state "$work/c/state" --address "$work/c/sock" \
            --config "$work/c/config.toml" >"$out_dir/containerd.log" 2>&1 &
        containerd_pid=$!
        for ((i = 0; i < 100; i++)); do [[ -S $work/c/sock ]] && break; sleep 0.1; done
        containerd_flag=(--containerd "$work/c/sock")
    fi
    dockerd --config-file "$work/daemon.json" --data-root "$dockerd_root" --exec-root "$dockerd_exec" \
        --pidfile "$dockerd_root.pid" -H "$dockerd_host" "${containerd_flag[@]}" \
        --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
        >"$out_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    wait_daemon dockerd "$dockerd_host" "$dockerd_pid" "$out_dir/dockerd.log"
    if [[ -z $containerd_pid ]]; then
        containerd_pid=$(pgrep -P "$dockerd_pid" -x containerd | head -n1 || true)
    fi
    import_image "$dockerd_host"
    # A private containerd is no child of dockerd: name it too, for the daemon's memory.
    engines+=(--engine "dockerd,$dockerd_host,$dockerd_pid${containerd_pid:+,$containerd_pid}")
fi

# ------------------------------------------------------------ workloads

log "workloads (load: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 "$repo_root/scripts/bench/bench.py" workloads --out-dir "$out_dir" "${engines[@]}" \
    --network "$network" --runs "$runs" --warmup "$warmup" --detached "$detached" \
    --concurrency "$concurrency" --mem-containers "$mem_containers" --many "$many" \
    --timeout "$call_timeout"

# What is left once each engine removed its containers, with the daemon up and once it stopped.
remove_all_containers "$kapsel_host"
if [[ $use_dockerd -eq 1 ]]; then remove_all_containers "$dockerd_host"; fi
sleep 1
check_leftovers kapsel "daemon up" "$kapsel_root" "$kapsel_pid"
stop_pid "$kapsel_pid" 30
kapsel_pid=""
check_leftovers kapsel "daemon stopped" "$kapsel_root"
if [[ $use_dockerd -eq 1 ]]; then
    dockerd_dirs=$dockerd_root:$dockerd_exec:$work/c
    check_leftovers dockerd "daemon up" "$dockerd_dirs" "$dockerd_pid" "$containerd_pid"
    stop_pid "$dockerd_pid" 30
    dockerd_pid=""
    stop_pid "$containerd_pid" 10
    containerd_pid=""
    check_leftovers dockerd "daemon stopped" "$dockerd_dirs"
fi

# ------------------------------------------------------------ report

settings=$(printf '{"runs":%s,"warmup":%s,"detached":%s,"concurrency":%s,"mem_containers":%s,"many":%s,"network":"%s","timeout_s":%s}' \
    "$runs" "$warmup" "$detached" "$concurrency" "$mem_containers" "$many" "$network" "$call_timeout")
inputs=("$out_dir/engine-kapsel.json")
leftover_args=(--leftovers "$out_dir/leftovers-kapsel.txt")
if [[ $use_dockerd -eq 1 ]]; then
    inputs+=("$out_dir/engine-dockerd.json")
    leftover_args+=(--leftovers "$out_dir/leftovers-dockerd.txt")
fi
python3 "$repo_root/scripts/bench/bench.py" report --out "$out_dir/results.json" \
    --settings "$settings" "${leftover_args[@]}" "${inputs[@]}"
