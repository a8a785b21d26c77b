#!/usr/bin/env bash
# vm-cgroupv2.sh — run a command inside a throwaway qemu VM whose ONLY cgroup hierarchy is
# cgroup v2 (unified), with the cpuset, cpu, io, memory and pids controllers enabled, so that
# kapsel's pure-cgroup-v2 code path is tested for real on a host that itself has a hybrid v1+v2
# layout (or no usable cgroups at all). The host's cgroups are never touched: the guest has its
# own kernel (Debian's linux-image-cloud-amd64), cgroup_no_v1=all, and mounts only cgroup2 at
# /sys/fs/cgroup. scripts/vm-test.sh runs kapsel's cgroup tests in it. Self-contained: it needs
# nothing from outside this repository but the packages below.
#
# usage: scripts/vm/vm-cgroupv2.sh [options] -- COMMAND [ARG...]
#        scripts/vm/vm-cgroupv2.sh --selftest   (the built-in checks, see below)
#
#   --files DIR[:GUESTDIR]  copy DIR's contents into the guest at GUESTDIR (default /files;
#                           repeatable). Dynamically linked ELF files in DIR get their host
#                           libraries (ldd) copied to the same paths in the guest, so host-built
#                           glibc binaries (e.g. a Rust `cargo build` output) run as they are
#                           (--no-libs turns that off, e.g. for a container rootfs).
#   --bin PATH              copy one host file to the same path in the guest, plus its
#                           libraries when it is a dynamically linked ELF file (repeatable),
#                           e.g. --bin /usr/bin/strace
#   --env NAME=VALUE        set an environment variable for COMMAND (repeatable)
#   --cwd GUESTDIR          working directory of COMMAND (default: first --files GUESTDIR, or /)
#   --mem MB                guest memory (default: 1024, more for a big initramfs: the files
#                           sit in RAM twice while the guest moves them to its tmpfs root)
#   --smp N                 vCPUs (default 2)
#   --timeout SECONDS       kill the VM after this long (default 600); exit code 124 then
#   --accel auto|kvm|tcg    default auto: KVM only if the CPU shows vmx/svm and /dev/kvm is not
#                           the kvm_pvm backend (which boots only PVM-built guest kernels; a
#                           stock kernel crawls there), otherwise TCG (software emulation).
#                           VM_CGROUPV2_TRY_KVM=1 makes auto try any usable /dev/kvm first and
#                           fall back to TCG when the guest has not booted within 20 s
#   --modules "M1 M2"       extra kernel modules to load at boot (all listed in
#                           KMOD_DIRS below are in the guest and autoload on demand anyway)
#   --console               copy the guest's serial console (kernel + init log) to stderr
#   --aslr                  keep address-space randomization in the guest. Off by default
#                           (norandmaps): under TCG every exec of a dynamically linked binary
#                           otherwise re-translates ld.so and libc at new addresses (~5x slower)
#   --selftest              run the built-in checks (controllers, OOM, pids, cpu.max, io.max,
#                           freezer, overlayfs, namespaces, pivot_root, veth+bridge) instead of
#                           a COMMAND; they are also in the guest as /usr/local/bin/vm-selftest
#   -h, --help
#
# COMMAND runs as root in the guest's ROOT cgroup ("0::/"), whose cgroup.subtree_control already
# holds "+cpuset +cpu +io +memory +pids" (plus hugetlb/misc/rdma), so it may create and limit
# child cgroups freely, like an engine started on a host without systemd. Its stdout and stderr
# come back on this script's stdout and stderr (streamed, over virtio-serial), and this script
# exits with COMMAND's exit code: 124 when the VM timed out, 125 when the VM failed (the console
# log's tail is then printed to stderr). COMMAND is exec'ed by /bin/sh (the host's dash, with
# glibc), stdin /dev/null, PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,
# HOME=/root, in GUESTDIR of the first --files (so `-- ./prog` works). For a shell snippet use
# `-- sh -c '...'`. The last line on stderr is always "vm-cgroupv2: exit=N accel=… wall=…s".
#
# The guest: busybox (from busybox-static) on a tmpfs root (pivot_root works), devtmpfs, /dev/pts,
# /dev/shm, mqueue, bpffs, / made rshared, loopback up, no network device at all (qemu -nic none:
# nothing leaves the VM), hostname "vm", no swap. Kernel modules for overlayfs, veth, bridge,
# netfilter, tun, macvlan/ipvlan/vxlan, loop, brd, fuse are present (overlay, veth, bridge,
# br_netfilter, loop, tun preloaded; the rest autoload through busybox modprobe).
#
# Needs (installed with apt-get when missing, so a fresh CI machine running as root works):
# qemu-system-x86, busybox-static, cpio. The kernel package is fetched with `apt-get download`
# (no install on the host) into $VM_CGROUPV2_CACHE (default /var/cache/kapsel-vm as root,
# ~/.cache/kapsel-vm otherwise) with the base initramfs built from it; set VM_KERNEL_PKG to
# another Debian kernel package (default linux-image-cloud-amd64) if needed, or VM_KERNEL_DIR to
# an unpacked kernel package (boot/vmlinuz-*, lib/modules/*, and a file "ok" holding
# "PACKAGE VERSION KVER"). VM_CGROUPV2_APPEND adds kernel parameters (e.g. "ignore_loglevel"
# with --console). VM_CGROUPV2_MACHINE=microvm boots ~0.2 s faster than the default q35 but hung
# before the kernel's first line in 1 of 12 boots (a hung boot is retried, see run_vm).
# Remove $VM_CGROUPV2_CACHE to pick up a newer kernel package.
set -euo pipefail

CACHE=${VM_CGROUPV2_CACHE:-/var/cache/kapsel-vm}
KPKG=${VM_KERNEL_PKG:-linux-image-cloud-amd64}
MEM= SMP=2 TIMEOUT=600 ACCEL=auto CONSOLE=0 SELFTEST=0 CWD= ASLR=0 LIBS=1
FILES=() BINS=() ENVS=() EXTRA_MODS=()
# Kernel module trees shipped in the guest (with their dependencies).
KMOD_DIRS="fs/overlayfs fs/fuse net/bridge net/802 net/llc net/netfilter net/ipv4 net/ipv6
  net/sched net/core drivers/net/veth.ko drivers/net/tun.ko drivers/net/dummy.ko
  drivers/net/macvlan.ko drivers/net/ipvlan drivers/net/vxlan drivers/net/geneve.ko
  drivers/net/wireguard drivers/block/loop.ko drivers/block/brd.ko drivers/virtio
  drivers/char/virtio_console.ko drivers/char/hw_random/virtio-rng.ko"
KMOD_DIRS="$KMOD_DIRS drivers/virtio/virtio_mmio.ko"
BOOT_MODS="virtio_pci virtio_mmio virtio_console overlay veth bridge br_netfilter loop tun"

die() { echo "vm-cgroupv2: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while [ $# -gt 0 ]; do
  case $1 in
    --files) [ $# -ge 2 ] || die "--files needs DIR"; FILES+=("$2"); shift 2 ;;
    --bin) [ $# -ge 2 ] || die "--bin needs PATH"; BINS+=("$2"); shift 2 ;;
    --env) [ $# -ge 2 ] || die "--env needs NAME=VALUE"; ENVS+=("$2"); shift 2 ;;
    --cwd) CWD=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --accel) ACCEL=$2; shift 2 ;;
    --modules) read -r -a _m <<<"$2"; EXTRA_MODS+=("${_m[@]}"); shift 2 ;;
    --console) CONSOLE=1; shift ;;
    --aslr) ASLR=1; shift ;;
    --no-libs) LIBS=0; shift ;;
    --selftest) SELFTEST=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
CMD=("$@")
if [ "$SELFTEST" = 1 ]; then
  [ ${#CMD[@]} -eq 0 ] || die "--selftest takes no COMMAND (run vm-selftest inside COMMAND instead)"
  CMD=(vm-selftest)
fi
[ ${#CMD[@]} -gt 0 ] || die "no COMMAND given (usage: $0 [options] -- COMMAND...)"
# the selftest's cgroup-namespace check needs util-linux unshare (busybox's has no -C)
if [ "$SELFTEST" = 1 ]; then for b in /usr/bin/unshare /usr/bin/nsenter; do [ -x "$b" ] && BINS+=("$b"); done; fi
if [ "$(id -u)" != 0 ] && [ -z "${VM_CGROUPV2_CACHE:-}" ]; then CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kapsel-vm; fi

# ---------------------------------------------------------------- host tools
ensure_tools() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v cpio >/dev/null || need+=(cpio)
  if ! { [ -x /bin/busybox ] && ! LC_ALL=C ldd /bin/busybox >/dev/null 2>&1; }; then need+=(busybox-static); fi
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root"
  echo "vm-cgroupv2: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${need[@]}" >&2 ||
    { apt-get -o DPkg::Lock::Timeout=300 update >&2 &&
      apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${need[@]}" >&2; } ||
    die "could not install ${need[*]}"
}

# ---------------------------------------------------------------- guest kernel (cached)
ensure_kernel() {
  KDIR=$CACHE/kernel/$KPKG
  if [ -n "${VM_KERNEL_DIR:-}" ]; then KDIR=$VM_KERNEL_DIR; fi
  if [ ! -e "$KDIR/ok" ]; then
    mkdir -p "$CACHE/kernel" "$CACHE/debs"
    exec 9>"$CACHE/kernel/.lock"; flock 9
    if [ ! -e "$KDIR/ok" ]; then
      local real deb ver dir
      real=$(apt-cache depends "$KPKG" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
      if [ -z "$real" ]; then
        apt-get -o DPkg::Lock::Timeout=300 update >&2 || true
        real=$(apt-cache depends "$KPKG" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
      fi
      [ -n "$real" ] || real=$KPKG  # already a versioned package name
      echo "vm-cgroupv2: fetching kernel package $real into $CACHE" >&2
      # apt downloads as _apt when that user may write the directory (else it warns)
      chown _apt "$CACHE/debs" 2>/dev/null || true
      (cd "$CACHE/debs" && rm -f "$real"_*.deb && apt-get download "$real" >&2) ||
        die "apt-get download $real failed"
      deb=$(ls "$CACHE/debs/$real"_*.deb | head -1)
      ver=$(dpkg-deb -f "$deb" Version)
      dir=$CACHE/kernel/$real-$ver
      rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
      dpkg-deb -x "$deb" "$dir.tmp"
      # modules live in lib/modules (bookworm) or usr/lib/modules (later releases)
      if [ ! -d "$dir.tmp/lib/modules" ] && [ -d "$dir.tmp/usr/lib/modules" ]; then
        mkdir -p "$dir.tmp/lib"; mv "$dir.tmp/usr/lib/modules" "$dir.tmp/lib/modules"
      fi
      local kver; kver=$(ls "$dir.tmp/lib/modules" | head -1)
      busybox depmod -b "$dir.tmp" "$kver"
      echo "$real $ver $kver" > "$dir.tmp/ok"
      rm -rf "$dir"; mv "$dir.tmp" "$dir"
      ln -sfn "$(basename "$dir")" "$CACHE/kernel/$KPKG"
      rm -f "$deb"
    fi
    exec 9>&-
  fi
  read -r KREAL KPVER KVER < "$KDIR/ok"
  VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
}

# ---------------------------------------------------------------- guest /init
write_init() {
cat > "$1" <<'INIT'
#!/usr/bin/busybox sh
# PID 1 of the vm-cgroupv2 guest. Stage 1 runs on the initramfs (rootfs, which cannot be
# pivot_root'ed away from), copies it to a tmpfs and switch_roots there; stage 2 sets up
# cgroup v2 and the rest, runs /vmrun/cmd and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ -z "$VM_STAGE2" ]; then
  mount -t tmpfs -o mode=0755,size=95% tmpfs /newroot
  for e in /* /.[!.]*; do
    case $e in /newroot|/proc|/sys|/dev|'/.[!.]*') continue ;; esac
    cp -a "$e" /newroot/
  done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev
  export VM_STAGE2=1
  exec switch_root /newroot /init
fi
unset VM_STAGE2
say() { read -r up _ < /proc/uptime; echo "vm-init[$up]: $*"; }
mount -t proc proc /proc
say "on tmpfs root"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id
chmod 1777 /tmp /var/tmp
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
  mount -t cgroup2 cgroup2 /sys/fs/cgroup || say "cannot mount cgroup2"
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount --make-rshared /
for m in $(cat /vmrun/modules 2>/dev/null); do modprobe "$m" || say "modprobe $m failed"; done
hostname vm
ip link set lo up
say "modules loaded"
ctl=""
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do ctl="$ctl +$c"; done
echo "$ctl" > /sys/fs/cgroup/cgroup.subtree_control || say "cannot enable$ctl"
say "cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
# Output channels: virtio-serial ports named vm.stdout / vm.stderr / vm.status.
port() {
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
  done
  return 1
}
i=0
while ! port vm.status >/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
OUT=$(port vm.stdout) || OUT=/dev/console
ERR=$(port vm.stderr) || ERR=/dev/console
ST=$(port vm.status) || ST=/dev/console
. /vmrun/env
cd "${VM_CWD:-/}" || say "cannot cd to $VM_CWD"
say "running command"
/bin/sh /vmrun/cmd </dev/null >"$OUT" 2>"$ERR"
rc=$?
echo "exit=$rc" >"$ST"
say "command exited with $rc"
sync
poweroff -f
INIT
}

write_selftest() {
cat > "$1" <<'SELFTEST'
#!/bin/sh
# vm-selftest: is this guest a usable pure-cgroup-v2 host for a container engine?
# (runs under /bin/sh: dash, or busybox ash where the host had no dash)
# Ends with "N passed, N failed"; exit status 0 only when nothing failed.
CG=/sys/fs/cgroup
T=$CG/selftest
pass=0 fail=0
check() {  # check DESCRIPTION FUNCTION: runs FUNCTION in a subshell, shows its output on failure
  d=$1; shift
  ( set -e; "$@" ) >/tmp/st.out 2>&1  # not inside an if: set -e must stay in force
  if [ $? = 0 ]; then echo "ok   - $d"; pass=$((pass+1))
  else echo "FAIL - $d"; grep -v '^#' /tmp/st.out | tail -8 | sed 's/^/     | /'; fail=$((fail+1)); fi
  grep '^#' /tmp/st.out | sed 's/^#/     #/'
}
val() { awk -v k="$2" '$1==k{print $2}' "$1"; }
now_ms() { awk '{printf "%d\n", $1*1000}' /proc/uptime; }
in_cg() { # in_cg CGROUP COMMAND...: run COMMAND inside CGROUP
  cg=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }

t_only_v2() {
  grep -q " $CG cgroup2 " /proc/mounts
  ! awk '$3=="cgroup"' /proc/mounts | grep -q .
  [ "$(cat /proc/self/cgroup)" = "0::/" ]
  mkdir -p /tmp/v1; ! mount -t cgroup -o memory none /tmp/v1 2>/dev/null
}
t_ctl() { grep -qw "$1" $CG/cgroup.controllers; grep -qw "$1" $CG/cgroup.subtree_control; }
t_limits() {
  echo 64M > $T/memory.max; [ "$(cat $T/memory.max)" = 67108864 ]
  echo 0 > $T/memory.swap.max; echo max > $T/memory.high
  echo 20 > $T/pids.max; [ "$(cat $T/pids.max)" = 20 ]
  echo '50000 100000' > $T/cpu.max; [ "$(cat $T/cpu.max)" = '50000 100000' ]; echo 200 > $T/cpu.weight
  echo 0 > $T/cpuset.cpus; echo 0 > $T/cpuset.mems; [ "$(cat $T/cpuset.cpus.effective)" = 0 ]
  [ -r $T/cpu.pressure ]; [ -r $T/memory.pressure ]; [ -r $T/io.pressure ]
}
t_pids() {  # a shell in the cgroup starts 40 sleeps; pids.max=20 must stop it
  in_cg $T sh -c 'i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); done' 2>/dev/null || true
  cur=$(cat $T/pids.current); ev=$(val $T/pids.events max)
  echo "# pids.current=$cur pids.events max=$ev (pids.max=20, 40 forks tried)"
  [ "$cur" -le 20 ]; [ "$cur" -ge 15 ]; [ "${ev:-0}" -gt 0 ]
}
t_kill() {
  echo 1 > $T/cgroup.kill
  i=0; while [ "$(cat $T/pids.current)" -gt 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  [ "$(cat $T/pids.current)" = 0 ]
}
t_oom() {  # dd with a 128M buffer in memory.max=64M must be OOM-killed
  rc=0; in_cg $T dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null || rc=$?
  oom=$(val $T/memory.events oom_kill)
  echo "# dd exit=$rc, memory.events oom_kill=$oom, memory.peak=$(cat $T/memory.peak 2>/dev/null)"
  [ $rc = 137 ]; [ "${oom:-0}" -ge 1 ]
  echo 1 > $T/memory.oom.group; grep -q '^anon ' $T/memory.stat
}
t_cpu() {  # a busy loop capped at 20% for 1s of wall time
  echo '20000 100000' > $T/cpu.max
  u0=$(val $T/cpu.stat usage_usec); th0=$(val $T/cpu.stat nr_throttled)
  in_cg $T timeout -s KILL 1 sh -c 'while :; do :; done' 2>/dev/null || true
  u=$(( $(val $T/cpu.stat usage_usec) - u0 )); th=$(( $(val $T/cpu.stat nr_throttled) - th0 ))
  echo "# 1 s busy loop under cpu.max 20000 100000: used ${u} us of CPU, throttled $th times"
  [ "$u" -gt 50000 ]; [ "$u" -le 500000 ]; [ "$th" -gt 0 ]
}
t_io() {  # 2 MiB written O_DIRECT to a ram disk (1:0) at wbps=1MiB/s must take >= 1s
  modprobe brd rd_nr=1 rd_size=16384; [ -b /dev/ram0 ]
  echo '1:0 wbps=1048576' > $T/io.max; grep -q '^1:0 .*wbps=1048576' $T/io.max
  s=$(now_ms); in_cg $T dd if=/dev/zero of=/dev/ram0 bs=256k count=8 oflag=direct 2>/dev/null; e=$(now_ms)
  wb=$(awk '$1=="1:0"{for(i=2;i<=NF;i++) if($i ~ /^wbytes=/){sub("wbytes=","",$i); print $i}}' $T/io.stat)
  echo "# 2 MiB direct write took $((e-s)) ms with io.max wbps=1MiB/s; io.stat wbytes=$wb"
  [ $((e-s)) -ge 900 ]; [ "${wb:-0}" -ge 2097152 ]
}
t_freeze() {
  in_cg $T sleep 60 & sleep 0.3
  echo 1 > $T/cgroup.freeze
  i=0; while ! grep -q 'frozen 1' $T/cgroup.events && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  r=0; grep -q 'frozen 1' $T/cgroup.events || r=1
  echo 1 > $T/cgroup.kill; echo 0 > $T/cgroup.freeze; return $r
}
t_nested() {
  echo '+memory +pids +cpu +io +cpuset' > $T/cgroup.subtree_control
  mkdir $T/sub; [ -e $T/sub/memory.max ]; [ -e $T/sub/io.max ]; rmdir $T/sub
}
t_overlay() {
  O=/tmp/ovl; rm -rf $O; mkdir -p $O/l $O/u $O/w $O/m; echo lower > $O/l/f; echo gone > $O/l/g
  mount -t overlay overlay -o lowerdir=$O/l,upperdir=$O/u,workdir=$O/w $O/m
  echo upper > $O/m/f; rm $O/m/g
  [ "$(cat $O/u/f)" = upper ]; [ "$(cat $O/l/f)" = lower ]; [ -c $O/u/g ]; [ ! -e $O/m/g ]
  umount $O/m
}
t_ns() {
  unshare -f -p -m -u -i -n --mount-proc sh -c '
    set -e; hostname inner; [ $$ = 1 ]; [ "$(hostname)" = inner ]
    n=$(ls /proc | grep -c "^[0-9]"); [ "$n" -le 5 ]; ! ip -o link | grep -v " lo:" | grep -q .'
  [ "$(hostname)" = vm ]
}
t_userns() { [ "$(unshare -U -r id -u)" = 0 ]; }
t_cgns() {
  unshare --help 2>&1 | grep -q -- '-C\|--cgroup' || { echo "this unshare has no -C (busybox); pass --bin /usr/bin/unshare"; return 1; }
  mkdir -p $CG/nstest
  r=0; in_cg $CG/nstest sh -c '[ "$(unshare -C cat /proc/self/cgroup)" = "0::/" ] && grep -q "^0::/nstest$" /proc/self/cgroup' || r=1
  rmdir $CG/nstest; return $r
}
t_pivot() {
  mkdir -p /tmp/nr
  unshare -m sh -c 'set -e; mount --make-rprivate /; mount -t tmpfs t /tmp/nr
    mkdir -p /tmp/nr/bin /tmp/nr/old; cp /bin/busybox /tmp/nr/bin/; cd /tmp/nr
    pivot_root . old
    exec /bin/busybox sh -c "/bin/busybox umount -l /old && [ ! -e /old/init ] && [ -x /bin/busybox ]"'
}
t_veth() {  # addresses exist only inside this VM, which has no network device at all
  unshare -n sleep 60 & ns=$!; sleep 0.3
  ip link add vmbr0 type bridge; ip addr add 10.99.0.1/24 dev vmbr0; ip link set vmbr0 up
  # busybox ip ignores "peer name X": create the pair, then rename the auto-named peer
  ip link add vh0 type veth peer name vc0
  ip link show vc0 >/dev/null 2>&1 || ip link set "$(ip -o link | sed -n 's/^[0-9]*: \([^@:]*\)@vh0:.*/\1/p')" name vc0
  ip link set vh0 master vmbr0 2>/dev/null || brctl addif vmbr0 vh0
  ip link set vh0 up
  ip link set vc0 netns $ns
  nsenter -t $ns -n sh -c 'set -e; ip link set lo up; ip addr add 10.99.0.2/24 dev vc0; ip link set vc0 up'
  r=0; ping -c 1 -W 3 10.99.0.2 && nsenter -t $ns -n ping -c 1 -W 3 10.99.0.1 || r=1
  kill $ns; ip link del vmbr0; ip link del vh0 2>/dev/null || true; return $r
}
t_links() {
  { ip tuntap add vmtap0 mode tap 2>/dev/null || tunctl -t vmtap0 >/dev/null; }; ip link show vmtap0 >/dev/null; ip link del vmtap0
  ip link add vmd0 type dummy
  ip link add vmmv0 link vmd0 type macvlan mode bridge; ip link del vmmv0
  ip link add vmvx0 type vxlan id 42 dev vmd0 dstport 4789; ip link del vmvx0
  ip link del vmd0
}
t_loop() {
  dd if=/dev/zero of=/tmp/loop.img bs=1M count=4 2>/dev/null
  l=$(losetup -f); losetup "$l" /tmp/loop.img; losetup -d "$l"
}
t_nf() { modprobe nf_tables; modprobe iptable_nat; modprobe br_netfilter; [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; }
t_misc() { grep -q '^Seccomp:' /proc/self/status; [ -d /sys/fs/bpf ]; grep -q overlay /proc/filesystems; }

echo "# kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo), controllers: $(cat $CG/cgroup.controllers)"
check "cgroup2 is the only hierarchy (no v1 mounted or mountable, 0::/)" t_only_v2
for c in cpuset cpu io memory pids; do check "controller $c available and enabled at the root" t_ctl $c; done
mkdir -p $T
check "limits writable: memory.max/swap.max/high, pids.max, cpu.max/weight, cpuset, PSI" t_limits
check "pids.max stops forks (pids.events max > 0)" t_pids
check "cgroup.kill kills every process in the cgroup" t_kill
check "memory.max enforced: hog SIGKILLed, memory.events oom_kill >= 1" t_oom
check "cpu.max throttles a busy loop" t_cpu
check "io.max throttles direct writes, io.stat accounts them" t_io
check "cgroup.freeze freezes" t_freeze
check "nested cgroup with delegated controllers" t_nested
sleep 0.3; rmdir $T 2>/dev/null || { sleep 1; rmdir $T; }
check "overlayfs on tmpfs (copy-up, whiteout)" t_overlay
check "pid+mount+uts+ipc+net namespaces (unshare --mount-proc)" t_ns
check "user namespace (unshare -U -r: uid 0 inside)" t_userns
check "cgroup namespace (unshare -C: 0::/)" t_cgns
check "pivot_root into a new root in a mount namespace" t_pivot
check "bridge + veth pair into a netns, ping across" t_veth
check "tun/tap, dummy, macvlan, vxlan links" t_links
check "loop device over a file" t_loop
check "netfilter modules (nf_tables, iptable_nat, br_netfilter)" t_nf
check "seccomp, bpffs, overlay in /proc/filesystems" t_misc
echo "$pass passed, $fail failed"
[ $fail = 0 ]
SELFTEST
}

# ---------------------------------------------------------------- base initramfs (cached)
build_base() {
  local bbsum key
  bbsum=$( { sha256sum /bin/busybox; [ -x /bin/dash ] && sha256sum /bin/dash $(LC_ALL=C ldd /bin/dash | grep -o '/[^ ]*'); } 2>/dev/null | sha256sum | cut -c1-16)
  key=$( { sed -n '/^write_init()/,/^# ---.* base initramfs/p' "$0"; echo "$KMOD_DIRS $KREAL $KPVER $bbsum v1"; } |
         sha256sum | cut -c1-16)
  BASE=$CACHE/base-$KVER-$key.cpio
  [ -s "$BASE" ] && [ -e "$BASE.files" ] && return 0
  local r=$WORK/base
  mkdir -p "$r"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,usr/local/sbin,etc,proc,sys,dev,run,tmp,var/tmp,var/lib,root,mnt,newroot,vmrun,home}
  ln -s /run "$r/var/run"
  printf 'PRETTY_NAME="vm-cgroupv2 guest (busybox)"\nNAME=vm-cgroupv2\nID=vm-cgroupv2\n' > "$r/etc/os-release"
  ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"; ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
  cp /bin/busybox "$r/usr/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] && continue
    ln -sf busybox "$r/usr/bin/$a"
  done
  for a in modprobe insmod rmmod depmod lsmod modinfo switch_root pivot_root poweroff reboot halt; do
    ln -sf ../bin/busybox "$r/usr/sbin/$a"
  done
  # /bin/sh is the host's dash (with glibc) when there is one: busybox-static's own shell runs
  # its applets before anything in PATH, so binaries passed in with --bin/--files would be
  # shadowed in shell scripts. glibc in the base also serves host-built binaries.
  LIBSTAGE=$r; : > "$WORK/basefiles"
  if [ -x /bin/dash ] && [ ! -L /bin/dash ]; then
    stage_host_file /bin/dash; stage_libs_of /bin/dash
    ln -sf dash "$r/usr/bin/sh"
  fi
  (cd "$r" && find usr/lib usr/lib64 -type f -o -type l 2>/dev/null | grep -v '^usr/lib/modules/' | sed 's,^,/,') > "$WORK/basefiles" || true
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$r/etc/group"
  printf '127.0.0.1 localhost vm\n::1 localhost ip6-localhost\n' > "$r/etc/hosts"
  echo vm > "$r/etc/hostname"; : > "$r/etc/resolv.conf"
  printf 'passwd: files\ngroup: files\nhosts: files\n' > "$r/etc/nsswitch.conf"
  ln -s /proc/self/mounts "$r/etc/mtab"
  write_init "$r/init"; chmod 755 "$r/init"
  write_selftest "$r/usr/local/bin/vm-selftest"; chmod 755 "$r/usr/local/bin/vm-selftest"
  # kernel modules: the listed trees plus their dependency closure
  local src=$KDIR/lib/modules/$KVER dst=$r/usr/lib/modules/$KVER d want
  mkdir -p "$dst"
  want=$WORK/want.txt; : > "$want"
  for d in $KMOD_DIRS; do
    if [ -d "$src/kernel/$d" ]; then (cd "$src" && find "kernel/$d" -name '*.ko*') >> "$want"
    elif [ -e "$src/kernel/$d" ]; then echo "kernel/$d" >> "$want"; fi
  done
  awk -F': ?' 'NR==FNR{w[$1]=1; next} ($1 in w){print $1; n=split($2,a," "); for(i=1;i<=n;i++) print a[i]}' \
    "$want" "$src/modules.dep" | sort -u > "$WORK/closure.txt"
  (cd "$src" && cpio -pdm --quiet "$dst" < "$WORK/closure.txt")
  cp "$src"/modules.builtin "$src"/modules.order "$dst"/ 2>/dev/null || true
  [ -e "$src/modules.builtin.modinfo" ] && cp "$src/modules.builtin.modinfo" "$dst/"
  busybox depmod -b "$r" "$KVER"
  mkdir -p "$CACHE"
  (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$BASE.tmp.$$"
  truncate -s %512 "$BASE.tmp.$$"  # the uncompressed archives appended after it must start aligned
  cp "$WORK/basefiles" "$BASE.files"
  mv "$BASE.tmp.$$" "$BASE"
  find "$CACHE" -maxdepth 1 -name 'base-*.cpio*' ! -name "$(basename "$BASE")*" -mmin +60 -delete 2>/dev/null || true
}

# ---------------------------------------------------------------- per-run archive
# Map a guest path through the merged-/usr symlinks of the base image.
canon() {
  case $1 in
    /bin|/bin/*) echo "/usr${1}" ;; /sbin|/sbin/*) echo "/usr${1}" ;;
    /lib|/lib/*) echo "/usr${1}" ;; /lib64|/lib64/*) echo "/usr${1}" ;;
    *) echo "$1" ;;
  esac
}
# Copy a host file (and, for a symlink, what it points to) to the same path in the libs stage.
stage_host_file() {
  local p=$1 g t n=0
  while [ $n -lt 8 ]; do
    g=$(canon "$p")
    if [ -e "$LIBSTAGE$g" ] || [ -L "$LIBSTAGE$g" ] || grep -qxF "$g" "$BASE_FILES" 2>/dev/null; then return 0; fi
    mkdir -p "$LIBSTAGE$(dirname "$g")"
    cp -P "$p" "$LIBSTAGE$g"
    [ -L "$p" ] || return 0
    t=$(readlink "$p"); case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac
    n=$((n+1))
  done
}
stage_libs_of() {  # ldd of one ELF file; silently nothing for static or non-ELF files
  local f=$1 l
  [ "$(head -c 4 "$f" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
  while read -r l; do
    [ -n "$l" ] && [ -e "$l" ] || continue
    [ -n "$LIBSKIP" ] && case $l in "$LIBSKIP"*) continue ;; esac
    stage_host_file "$l"
  done < <(LC_ALL=C ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p')
}
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

build_run_archive() {
  local meta=$WORK/meta sym=$WORK/sym i=0 spec dir dest g first=
  LIBSTAGE=$WORK/libs BASE_FILES=$BASE.files
  mkdir -p "$meta/vmrun" "$sym" "$LIBSTAGE"
  : > "$WORK/payload.cpio"
  for spec in "${FILES[@]}"; do
    dir=${spec%%:*}; dest=/files
    [ "$spec" != "$dir" ] && dest=${spec#*:}
    [ -d "$dir" ] || die "--files $dir: not a directory"
    case $dest in /*) ;; *) die "--files $spec: guest path must be absolute" ;; esac
    dir=$(cd "$dir" && pwd -P); g=$(canon "${dest%/}"); [ -n "$g" ] || g=/
    [ -n "$first" ] || first=$g
    if [ "$g" != / ]; then
      mkdir -p "$meta$g"; chmod 755 "$meta$g"
      mkdir -p "$sym/$i$(dirname "$g")"; ln -s "$dir" "$sym/$i$g"
    fi
    # DIR's contents, named under the guest path: cpio reads them through the symlink
    # $sym/$i/<guest path> -> DIR, so nothing is copied here.
    if [ "$g" = / ]; then
      for t in bin sbin lib lib64; do  # the guest has merged /usr: these are symlinks there
        if [ -d "$dir/$t" ] && [ ! -L "$dir/$t" ]; then die "--files $spec: $t/ would replace the guest's /$t -> usr/$t symlink; put it under usr/$t"; fi
      done
      (cd "$dir" && find . -mindepth 1 -print0 | sed -z 's,^\./,,' |
        cpio -o -0 -H newc --quiet) >> "$WORK/payload.cpio" || die "archiving $dir failed"
    else
      (cd "$dir" && find . -mindepth 1 -print0 | sed -z "s|^\./|${g#/}/|" |
        cpio -o -0 -H newc --quiet -D "$sym/$i") >> "$WORK/payload.cpio" || die "archiving $dir failed"
    fi
    # host libraries for dynamically linked ELF files in DIR
    if [ "$LIBS" = 1 ]; then
      LIBSKIP=$dir/  # libraries inside DIR itself travel with it
      while IFS= read -r -d '' f; do stage_libs_of "$f"; done < <(find "$dir" -type f -perm /111 -print0)
      LIBSKIP=
    fi
    i=$((i+1))
  done
  for b in "${BINS[@]}"; do
    [ -f "$b" ] || die "--bin $b: no such file"
    b=$(realpath -s "$b"); stage_host_file "$b"; stage_libs_of "$b"
  done
  # the command, its environment and the boot-time modules
  { echo "exec \\"; for a in "${CMD[@]}"; do printf '  %s \\\n' "$(sq "$a")"; done; echo; } > "$meta/vmrun/cmd"
  {
    echo "export HOME=/root TERM=dumb LANG=C.UTF-8"
    echo "export VM_CWD=$(sq "${CWD:-${first:-/}}")"
    for e in "${ENVS[@]}"; do
      case $e in *=*) ;; *) die "--env $e: expected NAME=VALUE" ;; esac
      printf 'export %s=%s\n' "${e%%=*}" "$(sq "${e#*=}")"
    done
  } > "$meta/vmrun/env"
  echo $BOOT_MODS "${EXTRA_MODS[@]}" > "$meta/vmrun/modules"
  (cd "$meta" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$WORK/meta.cpio"
  if [ -n "$(ls -A "$LIBSTAGE")" ]; then
    (cd "$LIBSTAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$WORK/libs.cpio"
  else : > "$WORK/libs.cpio"; fi
  # initramfs = base + meta (dirs, cmd) + libs + payload; later archives win
  cat "$BASE" "$WORK/meta.cpio" "$WORK/libs.cpio" "$WORK/payload.cpio" > "$WORK/initrd"
}

# ---------------------------------------------------------------- accelerator
pick_accel() {
  case $ACCEL in
    kvm|tcg) ;;
    auto)
      ACCEL=tcg AUTO_KVM=0
      # KVM is used only with hardware virtualization: this host's /dev/kvm may be a
      # PVM backend (kvm_pvm), which boots only PVM-enabled guest kernels.
      if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo &&
         [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm AUTO_KVM=1; fi
      # VM_CGROUPV2_TRY_KVM=1: try any read-writable /dev/kvm first anyway
      if [ "${VM_CGROUPV2_TRY_KVM:-0}" = 1 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then ACCEL=kvm AUTO_KVM=1; fi ;;
    *) die "--accel must be auto, kvm or tcg" ;;
  esac
  set_qaccel
}
set_qaccel() {
  if [ "$ACCEL" = kvm ]; then QACCEL=(-accel kvm -cpu host); else QACCEL=(-accel tcg,thread=multi -cpu max); fi
}

# ---------------------------------------------------------------- main
AUTO_KVM=0 QPID= TAILS=() BASE_FILES=/nonexistent LIBSKIP=
cleanup() {
  local rc=$?
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; fi
  local t; for t in "${TAILS[@]}"; do kill "$t" 2>/dev/null; wait "$t" 2>/dev/null; done
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_tools
ensure_kernel
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vm-cgroupv2.XXXXXX")
build_base
build_run_archive
pick_accel

# cgroup_no_v1=all: no v1 hierarchy can be mounted at all. The rest trims TCG boot time:
# no crypto self-tests (~0.4 s), no i8042 probing, no KASLR, no mitigations.
APPEND="console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 \
psi=1 mitigations=off nokaslr i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd tsc=reliable \
random.trust_cpu=on cryptomgr.notests initcall_blacklist=crypto_kdf108_init rdinit=/init"
[ "$ASLR" = 1 ] || APPEND="$APPEND norandmaps"
APPEND="$APPEND ${VM_CGROUPV2_APPEND:-}"
MACHINE=${VM_CGROUPV2_MACHINE:-q35}
case $MACHINE in microvm*) VSERIAL=virtio-serial-device ;; *) VSERIAL=virtio-serial-pci ;; esac
if [ -z "$MEM" ]; then  # the initramfs is held twice while /init moves it to a tmpfs
  MEM=$(( $(stat -c %s "$WORK/initrd") * 3 / 1048576 + 512 )); [ "$MEM" -ge 1024 ] || MEM=1024
fi
START=$(date +%s.%N)
INITRD_MB=$(( $(stat -c %s "$WORK/initrd") / 1048576 ))
BOOT_LIMIT=${VM_CGROUPV2_BOOT_LIMIT:-$(( 40 + INITRD_MB / 4 ))}  # seconds until COMMAND must have started
run_vm() {
  : > "$WORK/stdout"; : > "$WORK/stderr"; : > "$WORK/status"; : > "$WORK/console"
  timeout --kill-after=5 "$TIMEOUT" qemu-system-x86_64 -name vm-cgroupv2 \
    -machine "$MACHINE" "${QACCEL[@]}" -m "$MEM" -smp "$SMP" \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd" -append "$APPEND" \
    -serial "file:$WORK/console" \
    -device "$VSERIAL,id=vs0" \
    -chardev "file,id=o,path=$WORK/stdout" -device virtserialport,bus=vs0.0,nr=1,chardev=o,name=vm.stdout \
    -chardev "file,id=e,path=$WORK/stderr" -device virtserialport,bus=vs0.0,nr=2,chardev=e,name=vm.stderr \
    -chardev "file,id=s,path=$WORK/status" -device virtserialport,bus=vs0.0,nr=3,chardev=s,name=vm.status \
    </dev/null >"$WORK/qemu.log" 2>&1 &
  QPID=$!
  tail -s 0.1 -n +1 -f --pid=$QPID "$WORK/stdout" & TAILS+=($!)
  tail -s 0.1 -n +1 -f --pid=$QPID "$WORK/stderr" >&2 & TAILS+=($!)
  if [ "$CONSOLE" = 1 ]; then
    tail -s 0.1 -n +1 -f --pid=$QPID "$WORK/console" | sed 's/\r$//; s/^/console| /' >&2 & TAILS+=($!)
  fi
}
# A TCG boot very rarely hangs before the kernel prints anything: the guest gets BOOT_LIMIT
# seconds to start COMMAND, else the VM is killed and booted again (at most 3 tries). COMMAND
# itself is never re-run. A KVM that --accel auto picked and that fails or hangs at boot is
# dropped for TCG.
set +e
for attempt in 1 2 3; do
  run_vm
  t0=$SECONDS booted=0 limit=$BOOT_LIMIT
  [ "$ACCEL" = kvm ] && limit=$(( BOOT_LIMIT < 20 ? BOOT_LIMIT : 20 ))
  while kill -0 "$QPID" 2>/dev/null; do
    if grep -q 'vm-init\[[0-9.]*\]: running command' "$WORK/console"; then booted=1; break; fi
    [ $((SECONDS - t0)) -lt "$limit" ] || break
    sleep 0.1
  done
  if [ $booted = 0 ] && [ "$AUTO_KVM" = 1 ] && [ $attempt -lt 3 ]; then
    echo "vm-cgroupv2: KVM did not boot the guest in ${limit}s, falling back to TCG" >&2
    sed 's/^/qemu| /' "$WORK/qemu.log" >&2
    kill "$QPID" 2>/dev/null; wait "$QPID"; QPID=
    for t in "${TAILS[@]}"; do kill "$t" 2>/dev/null; wait "$t" 2>/dev/null; done; TAILS=()
    ACCEL=tcg AUTO_KVM=0; set_qaccel
    continue
  fi
  if [ $booted = 0 ] && kill -0 "$QPID" 2>/dev/null && [ $attempt -lt 3 ]; then
    echo "vm-cgroupv2: no boot after ${limit}s (try $attempt), booting again" >&2
    kill "$QPID"; wait "$QPID"; QPID=
    for t in "${TAILS[@]}"; do kill "$t" 2>/dev/null; wait "$t" 2>/dev/null; done; TAILS=()
    continue
  fi
  wait "$QPID"; QRC=$?
  QPID=
  for t in "${TAILS[@]}"; do wait "$t" 2>/dev/null; done
  TAILS=()
  break
done
set -e
END=$(date +%s.%N)
RC=$(sed -n 's/^exit=\([0-9]*\).*/\1/p' "$WORK/status" | head -1)
SECS=$(awk -v a="$START" -v b="$END" 'BEGIN{printf "%.1f", b-a}')
if [ -z "$RC" ]; then
  if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    echo "vm-cgroupv2: VM timed out after ${TIMEOUT}s (accel=$ACCEL)" >&2; RC=124
  else
    echo "vm-cgroupv2: VM ended without reporting an exit code (qemu rc=$QRC, accel=$ACCEL)" >&2; RC=125
  fi
  sed 's/^/qemu| /' "$WORK/qemu.log" >&2
  [ "$CONSOLE" = 1 ] || tail -n 40 "$WORK/console" | sed 's/\r$//; s/^/console| /' >&2
fi
echo "vm-cgroupv2: exit=$RC accel=$ACCEL kernel=$KREAL ($KPVER) wall=${SECS}s" >&2
exit "$RC"
