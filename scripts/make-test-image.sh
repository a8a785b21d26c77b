#!/usr/bin/env bash
# Builds the root filesystem tarball that kapsel's tests import as their test
# image (`docker import busybox.tar busybox:latest`). There is no registry to
# pull from here, so the image is made from Debian's static busybox: one
# binary plus a symlink per applet, a minimal /etc, and /www/index.html for
# the httpd tests. The tarball is reproducible (fixed mtime, sorted entries,
# owned by 0:0), so its layer digest is stable from run to run.
#
# Usage: scripts/make-test-image.sh [OUT]   (default target/test-image/busybox.tar)
# Skips the rebuild when OUT is newer than this script.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script="$script_dir/$(basename "${BASH_SOURCE[0]}")"
repo_root=$(cd "$script_dir/.." && pwd)
out=${1:-$repo_root/target/test-image/busybox.tar}

if [[ -s $out && $out -nt $script ]]; then
    echo "make-test-image: $out is up to date"
    exit 0
fi

# ldd refuses static binaries; a dynamic busybox would not run in the image.
have_static_busybox() {
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
}

if ! have_static_busybox; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "make-test-image: a static /bin/busybox is needed; install busybox-static (as root: apt-get install busybox-static)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends busybox-static; then
        apt-get update
        apt-get install -y --no-install-recommends busybox-static
    fi
    have_static_busybox || {
        echo "make-test-image: /bin/busybox is still not a static binary" >&2
        exit 1
    }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,root,tmp,www,dev,proc,sys}

cp /bin/busybox "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
while IFS= read -r applet; do
    [[ -z $applet || $applet == bin/busybox ]] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -sfn /bin/busybox "$rootfs/$applet"
done < <(/bin/busybox --list-full)

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
cat >"$rootfs/www/index.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>kapsel test image</title></head>
<body><h1>hello from the kapsel test image</h1></body></html>
HTML

find "$rootfs" -type d -exec chmod 0755 {} +
find "$rootfs" -type f ! -path "$rootfs/bin/busybox" -exec chmod 0644 {} +
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
# Top-level names without a leading "./", like `docker export` writes them.
mapfile -t top < <(cd "$rootfs" && LC_ALL=C ls -A)
tar --create --file="$tmp_out" --directory="$rootfs" \
    --format=gnu --sort=name --numeric-owner --owner=0 --group=0 \
    --mtime='2000-01-01 00:00:00Z' \
    "${top[@]}"
mv -f "$tmp_out" "$out"
echo "make-test-image: wrote $out ($(du -h "$out" | cut -f1))"
