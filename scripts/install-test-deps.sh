#!/usr/bin/env bash
# Installs what scripts/test.sh needs beyond the Rust toolchain, so that the
# test suite runs on a fresh Debian machine (CI is a fresh clone, often on a
# fresh machine): busybox-static (the test image), curl, a docker CLI (the
# tests drive kapsel with the real, unmodified client), iptables and iproute2
# (bridge networks: kapsel installs NAT and port rules with the iptables CLI,
# the network tests look at links with `ip`), cc with the static libc (the
# seccomp probe), pip, and the Python docker SDK + pytest, and a registry
# for the pull/push tests: Debian's docker-registry (the distribution
# registry v2) and apache2-utils (htpasswd). Idempotent: it
# installs only what is missing and runs `apt-get update` only when something
# has to come from apt. For the dashboard's browser tests: node and npm,
# Debian's chromium, and `npm ci` of tests/ui (playwright-core, pinned).
#
# When the docker CLI has to come from Debian's docker.io package, the
# package's own dockerd must NOT run: kapsel's tests talk to kapsel only, and a
# stray dockerd would grab /var/run/docker.sock. Likewise the docker-registry
# package's own service (on :5000) must not run: the tests start private
# registries on free loopback ports. Service starts are blocked during the
# install (policy-rc.d) and anything that got started is stopped and disabled.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-deps.sh: must run as root (try: sudo $0)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

log() { echo "install-test-deps: $*"; }

# A static busybox at /bin/busybox (ldd refuses static binaries).
have_static_busybox() {
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
}

have_pip() { python3 -m pip --version >/dev/null 2>&1; }

apt_pkgs=()
have_static_busybox || apt_pkgs+=(busybox-static)
command -v curl >/dev/null 2>&1 || apt_pkgs+=(curl)
have_sbin() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]]; }
{ have_sbin iptables && have_sbin iptables-restore; } || apt_pkgs+=(iptables)
have_sbin ip || apt_pkgs+=(iproute2)
# A C compiler and the static libc: tests/cli_security.rs builds a tiny static program that
# makes the syscalls busybox has no applet for (keyctl, kexec_load, clone3).
command -v cc >/dev/null 2>&1 || apt_pkgs+=(gcc)
compgen -G '/usr/lib/*-linux-gnu/libc.a' >/dev/null || apt_pkgs+=(libc6-dev)
command -v python3 >/dev/null 2>&1 || apt_pkgs+=(python3)
if ! command -v python3 >/dev/null 2>&1 || ! have_pip; then
    apt_pkgs+=(python3-pip)
fi
need_docker=0
if ! command -v docker >/dev/null 2>&1; then
    need_docker=1
    apt_pkgs+=(docker.io)
fi
need_registry=0
if ! command -v docker-registry >/dev/null 2>&1; then
    need_registry=1
    apt_pkgs+=(docker-registry)
fi
command -v htpasswd >/dev/null 2>&1 || apt_pkgs+=(apache2-utils)
# The dashboard's browser tests (tests/ui): node and npm for playwright-core, Debian's chromium
# (Playwright downloads no browser of its own here) and a font for its screenshots.
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
[[ -x /usr/bin/chromium ]] || apt_pkgs+=(chromium)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || apt_pkgs+=(fonts-dejavu-core)

# PIDs of daemons that already run, so that only the ones the docker.io or
# docker-registry install starts get stopped afterwards.
daemon_pids() { pgrep -x dockerd || true; pgrep -x containerd || true; pgrep -x docker-registry || true; }

if ((${#apt_pkgs[@]})); then
    log "installing ${apt_pkgs[*]}"
    before_pids=$(daemon_pids | sort)
    # Keep package scripts from starting services (docker.io would start
    # dockerd through its init script on a machine without systemd).
    policy_rc=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ $((need_docker + need_registry)) -gt 0 && ! -e $policy_rc ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 0755 "$policy_rc"
        added_policy=1
    fi
    install() { apt-get install -y --no-install-recommends "${apt_pkgs[@]}"; }
    status=0
    # The package lists may be missing or stale on a fresh machine: update
    # only when there is something to install, and retry once after it.
    if ! install; then
        apt-get update
        install || status=$?
    fi
    if [[ $added_policy -eq 1 ]]; then
        rm -f "$policy_rc"
    fi
    if [[ $need_registry -eq 1 ]]; then
        systemctl disable --now docker-registry 2>/dev/null || true
        update-rc.d docker-registry disable 2>/dev/null || true
    fi
    if [[ $((need_docker + need_registry)) -gt 0 ]]; then
        if [[ $need_docker -eq 1 ]]; then
            systemctl disable --now docker docker.socket 2>/dev/null || true
        fi
        for pid in $(daemon_pids | sort); do
            if ! grep -qx "$pid" <<<"$before_pids"; then
                log "stopping daemon $pid started by the package install"
                kill "$pid" 2>/dev/null || true
            fi
        done
    fi
    if [[ $status -ne 0 ]]; then
        log "apt-get install ${apt_pkgs[*]} failed" >&2
        exit "$status"
    fi
fi

have_static_busybox || {
    log "/bin/busybox is still missing or not static" >&2
    exit 1
}
command -v docker >/dev/null 2>&1 || {
    log "no docker CLI on PATH" >&2
    exit 1
}
command -v docker-registry >/dev/null 2>&1 && command -v htpasswd >/dev/null 2>&1 || {
    log "docker-registry or htpasswd is still missing" >&2
    exit 1
}
if ! have_pip; then
    # python3 may not be Debian's (pyenv, for one): bootstrap its own pip.
    python3 -m ensurepip --upgrade
fi

# pip install that adds --break-system-packages only when this pip refuses to
# touch an externally managed (Debian) Python without it.
pip_install() {
    local out
    if out=$(python3 -m pip install --disable-pip-version-check "$@" 2>&1); then
        echo "$out" | tail -n 1
        return 0
    fi
    if grep -q externally-managed-environment <<<"$out"; then
        python3 -m pip install --disable-pip-version-check --break-system-packages "$@"
        return
    fi
    echo "$out" >&2
    return 1
}

if ! python3 -c 'import docker, sys; sys.exit(not docker.__version__.startswith("7."))' 2>/dev/null; then
    log "installing the Python docker SDK 7.x"
    pip_install 'docker>=7,<8'
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
    log "installing pytest"
    pip_install pytest
fi
# The OpenAPI tests (tests/python/test_openapi*.py): the document's validator, the client
# generator whose output they run, and the contract fuzzer. Pinned: the tests depend on their
# command lines, configuration and output.
openapi_tools=(openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 schemathesis==4.32.5)
pinned_version() { python3 -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null || true; }
for spec in "${openapi_tools[@]}"; do
    if [[ $(pinned_version "${spec%%==*}") != "${spec##*==}" ]]; then
        log "installing ${openapi_tools[*]}"
        pip_install "${openapi_tools[@]}"
        break
    fi
done

# playwright-core for tests/ui, exactly as its package-lock.json pins it; `npm ci` runs only when
# the installed copy is not the locked one (and then works offline from npm's cache).
ui_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/ui"
locked_version() {
    node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' \
        "$ui_dir/package-lock.json"
}
installed_version() {
    node -e 'console.log(require(process.argv[1]).version)' \
        "$ui_dir/node_modules/playwright-core/package.json" 2>/dev/null || true
}
if [[ $(installed_version) != "$(locked_version)" ]]; then
    log "npm ci in tests/ui (playwright-core $(locked_version))"
    (cd "$ui_dir" && npm ci --no-audit --no-fund --prefer-offline)
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
    log "node $(node --version) is older than playwright-core needs (20)" >&2
    exit 1
fi

log "ok: $(docker --version); node $(node --version); $(/usr/bin/chromium --version 2>/dev/null); $(docker-registry --version 2>/dev/null | head -n 1); docker SDK $(python3 -c 'import docker; print(docker.__version__)'); pytest $(python3 -c 'import pytest; print(pytest.__version__)')"
