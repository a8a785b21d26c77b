#!/usr/bin/env bash
# Runs kapsel's cgroup tests (tests/cgroups.rs, tests/cli_operations.rs) on a pure cgroup v2 machine:
# a throwaway qemu VM (scripts/vm/vm-cgroupv2.sh) whose only hierarchy is
# cgroup v2 with cpuset, cpu, io, memory and pids enabled. The same tests run
# on the host in `cargo test` (whatever layout the host has, v1 or hybrid on
# the CI machines), so one `scripts/test.sh` run covers both layouts.
#
# Usage: sudo scripts/vm-test.sh [TEST-FILTER...] [-- LIBTEST-ARGS...]
#   e.g. sudo scripts/vm-test.sh oom        (only tests whose name has "oom")
#
# What it does:
#   1. builds on the host: `cargo build` (target/debug/kapsel) and the test
#      binary of tests/cgroups.rs (`cargo test --no-run --test cgroups`);
#      makes the test image (scripts/make-test-image.sh) unless
#      KAPSEL_TEST_IMAGE names one;
#   2. boots the VM with, at the same absolute paths as on the host, the
#      kapsel binary (the test binary has its path compiled in), the test
#      binary, the test image and the docker CLI (`command -v docker`; a
#      dynamically linked one gets its libraries copied along). Binaries go in
#      with their debug info stripped (a debug kapsel is 4x smaller so);
#   3. in the guest (root, a tmpfs root, loopback only, no swap) checks that
#      /sys/fs/cgroup is cgroup2, then runs the test binary with
#      --test-threads=1. Each test starts its own `kapsel serve` on a
#      temporary data root under /tmp and drives it with the docker CLI.
#
# It prints the guest's test output and exits with the test binary's status.
# A VM that cannot boot is an error (exit 124 on timeout, 125 when the VM
# failed), never a skip. Needs root: scripts/vm/vm-cgroupv2.sh installs
# qemu-system-x86, busybox-static and cpio when missing and caches the guest
# kernel under /var/cache/kapsel-vm. Without KVM the guest runs under TCG
# (software emulation), which is what CI has: on 2 shared cores the VM part
# takes 50-90 s (boot ~3 s, the tests the rest), plus the builds when
# `cargo test` has not already made them, plus, on a fresh machine, the qemu
# install and a 26 MB kernel download.
#
# Environment: VM_TEST_TIMEOUT (seconds for the whole VM run, default 1200),
# VM_TEST_MEM (guest MiB, default 2048), VM_TEST_CONSOLE=1 (show the guest's
# console), KAPSEL_TEST_IMAGE (a test image tarball to use instead).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "scripts/vm-test.sh needs root (it installs qemu when missing and the tests run containers)." >&2
    echo "Please run: sudo scripts/vm-test.sh" >&2
    exit 1
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

source "$repo_root/scripts/lib/toolchain.sh"

say() { echo "vm-test: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# The arguments for the test binary: filters, and anything after `--`.
# docker top runs the host's ps, which in the guest is busybox's with another output format; the
# test is about ps, not cgroups, and runs on the host.
test_args=(--test-threads=1 --skip top_lists_the_container_processes)
while [[ $# -gt 0 ]]; do
    case $1 in
    --) shift; test_args+=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) test_args+=("$1"); shift ;;
    esac
done

docker_cli=$(command -v docker) || die "no docker CLI on PATH (scripts/install-test-deps.sh installs it)"
# The docker CLI goes to the same path in the guest, which must be on its PATH.
case $(dirname "$docker_cli") in
/usr/local/sbin | /usr/local/bin | /usr/sbin | /usr/bin | /sbin | /bin) ;;
*) die "the docker CLI is at $docker_cli; the guest's PATH has only the standard bin directories" ;;
esac
[[ $(basename "$docker_cli") == docker ]] || die "the docker CLI $docker_cli is not named docker"

# ---- 1. build on the host --------------------------------------------------
say "cargo build"
cargo build
kapsel_bin="$repo_root/target/debug/kapsel"
[[ -x $kapsel_bin ]] || die "cargo build did not produce $kapsel_bin"

# The test targets that touch cgroups: limits (cgroups), and stats, top, pause and update
# (cli_operations).
test_targets=(cgroups cli_operations)
say "cargo test --no-run ${test_targets[*]/#/--test }"
build_json=$(cargo test --no-run ${test_targets[@]/#/--test } --message-format=json)
test_bins=()
for target in "${test_targets[@]}"; do
    # The line of the test target's artifact; its "executable" is the binary.
    bin=$(printf '%s\n' "$build_json" |
        grep '"reason":"compiler-artifact"' | grep '"kind":\["test"\]' | grep "\"name\":\"$target\"" |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1) || true
    [[ -n $bin && -x $bin ]] || die "cannot find the test binary of tests/$target.rs in cargo's output"
    test_bins+=("$bin")
done
test_bin=${test_bins[0]}

if [[ -z ${KAPSEL_TEST_IMAGE:-} ]]; then
    scripts/make-test-image.sh >&2
    KAPSEL_TEST_IMAGE="$repo_root/target/test-image/busybox.tar"
fi
[[ -f $KAPSEL_TEST_IMAGE ]] || die "KAPSEL_TEST_IMAGE=$KAPSEL_TEST_IMAGE is not a file"
KAPSEL_TEST_IMAGE=$(realpath "$KAPSEL_TEST_IMAGE")

# ---- 2. what goes into the guest ---------------------------------------------
stage=$(mktemp -d "${TMPDIR:-/tmp}/kapsel-vm-test.XXXXXX")
trap 'rm -rf "$stage"' EXIT
# One directory per guest directory: --files copies a directory's contents.
# Debug info is stripped (the guest's files sit in its RAM); symbols stay
# for backtraces.
put() { # put HOST-FILE NAME: HOST-FILE into the stage dir for its guest dir
    local dir="$stage/$2"
    mkdir -p "$dir"
    if ! strip --strip-debug -o "$dir/$(basename "$1")" "$1" 2>/dev/null; then
        cp "$1" "$dir/"
    fi
}
put "$kapsel_bin" kapsel
for bin in "${test_bins[@]}"; do put "$bin" tests; done
mkdir -p "$stage/image"
ln "$KAPSEL_TEST_IMAGE" "$stage/image/" 2>/dev/null || cp "$KAPSEL_TEST_IMAGE" "$stage/image/"

files=(
    --files "$stage/kapsel:$(dirname "$kapsel_bin")"
    --files "$stage/tests:$(dirname "$test_bin")"
    --files "$stage/image:$(dirname "$KAPSEL_TEST_IMAGE")"
    --bin "$docker_cli"
)

vm_opts=(--timeout "${VM_TEST_TIMEOUT:-1200}" --mem "${VM_TEST_MEM:-2048}" --cwd /tmp)
[[ ${VM_TEST_CONSOLE:-0} == 1 ]] && vm_opts+=(--console)

# ---- 3. run in the guest ----------------------------------------------------------
# Refuse to run on anything but a pure v2 guest: the point is the v2 path.
guest_script='
set -e
if ! grep -q " /sys/fs/cgroup cgroup2 " /proc/mounts || grep -q " cgroup " /proc/mounts; then
    echo "vm-test: the guest is not a pure cgroup v2 machine:" >&2; grep cgroup /proc/mounts >&2; exit 1
fi
echo "vm-test: guest $(uname -r), $(nproc) CPUs, cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
args=$1; shift
status=0
for bin in "$@"; do
    echo "vm-test: running $(basename "$bin")"
    eval "\"\$bin\" $args" || status=1
done
exit $status'

say "booting the cgroup v2 VM: ${test_targets[*]} ${test_args[*]}"
started=$SECONDS
set +e
scripts/vm/vm-cgroupv2.sh "${files[@]}" "${vm_opts[@]}" \
    --env "KAPSEL_TEST_IMAGE=$KAPSEL_TEST_IMAGE" --env RUST_BACKTRACE=1 \
    -- sh -c "$guest_script" sh "$(printf '%q ' "${test_args[@]}")" "${test_bins[@]}"
status=$?
set -e
say "VM run took $((SECONDS - started)) s, exit status $status"
exit "$status"
