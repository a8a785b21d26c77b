#!/usr/bin/env bash
# Builds kapsel (release) and runs the daemon on its defaults: data root /var/lib/kapsel, the
# embedded SQLite database there, the API on unix:///var/lib/kapsel/kapsel.sock and
# tcp://127.0.0.1:2375. Extra arguments go to `kapsel serve` (e.g. --data-root, -H).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "kapsel runs containers with namespaces and cgroups and needs root: sudo scripts/serve.sh" >&2
    exit 1
fi
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
source "$repo_root/scripts/lib/toolchain.sh"
cargo build --release --quiet
exec target/release/kapsel serve "$@"
