#!/usr/bin/env bash
# The one command that runs every kapsel test: `sudo scripts/test.sh`.
# CI runs it too (.ci/run), on a fresh clone and possibly a fresh machine, so
# it first installs what the tests need, then runs, in order and stopping at
# the first failure: formatting, clippy, the build, all Rust tests (unit and
# integration, which drive the daemon with the real docker CLI), the
# Python docker SDK tests, the dashboard's browser tests (tests/ui), and the
# cgroup tests once more in a cgroup-v2-only VM (scripts/vm-test.sh). Root is
# required: the daemon manages images (and, later, containers) as root, and
# missing test dependencies are installed.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "scripts/test.sh needs root (it installs test dependencies and the daemon runs as root)." >&2
    echo "Please run: sudo scripts/test.sh" >&2
    exit 1
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

source "$repo_root/scripts/lib/toolchain.sh"

current_step=""
step() {
    current_step="$*"
    echo
    echo "==> $*"
}
trap 'status=$?; if [[ $status -ne 0 ]]; then echo "scripts/test.sh: FAILED at: $current_step (exit $status)" >&2; fi' EXIT

step "install test dependencies"
scripts/install-test-deps.sh

step "build the test image"
scripts/make-test-image.sh
export KAPSEL_TEST_IMAGE="$repo_root/target/test-image/busybox.tar"
# Keep the work tree clean of __pycache__ and .pytest_cache.
export PYTHONDONTWRITEBYTECODE=1

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo build"
cargo build

# Each integration test runs its own daemon; the machine has 2 cores.
# --no-fail-fast: one failing test binary should not hide the others.
step "cargo test"
cargo test --no-fail-fast -- --test-threads=4

step "python3 -m pytest (tests/python)"
python3 -m pytest -q -p no:cacheprovider tests/python

# The web dashboard in Debian's chromium, driven by playwright-core against a live daemon;
# its screenshots are kept in target/ui-artifacts/.
step "node --test (tests/ui: the dashboard in chromium)"
(cd tests/ui && node --test)

# tests/cgroups.rs ran above on this host's cgroup layout; production hosts
# are pure cgroup v2, so the same tests run again in a qemu VM that has only
# cgroup v2 (about a minute under software emulation, plus the first run's
# qemu install and kernel download). A VM that cannot boot fails this step.
step "scripts/vm-test.sh (tests/cgroups.rs on a pure cgroup v2 VM)"
scripts/vm-test.sh

current_step=""
echo
echo "scripts/test.sh: all tests passed"
