#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the tiny guest of the COLO end-to-end test and demo: a Debian
# kernel (linux-image-*-amd64, unpacked with dpkg-deb, never installed)
# and an initramfs made of busybox-static, the NIC driver modules, our
# /init and two small helpers.  No disk.
#
#   build.sh            build if needed; print the guest directory
#   build.sh --path     print the guest directory if it is built, else fail
#
# The result is cached in ~/.cache/colo-proxy/guest/<hash>/ (vmlinuz,
# initrd.img, kernel-version), where <hash> covers every file of
# this folder: a change to any of them builds a new guest.
#
# COLO_GUEST_KERNEL_PKG=linux-image-6.1.0-NN-amd64 picks a kernel package
# (default: the one linux-image-amd64 depends on).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${COLO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/colo-proxy}/guest

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

key=$(cd "$here" && find . -maxdepth 1 -type f ! -name '*~' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
dir=$cache/$key

if [ "${1:-}" = --path ]; then
    [ -f "$dir/.complete" ] || exit 1
    echo "$dir"
    exit 0
fi

if [ -f "$dir/.complete" ]; then
    echo "$dir"
    exit 0
fi

for c in apt-get apt-cache dpkg-deb gcc python3 gzip; do
    command -v "$c" >/dev/null 2>&1 ||
        die "'$c' is needed to build the test guest; run 'make deps' (as root) first."
done

mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8
if [ -f "$dir/.complete" ]; then
    echo "$dir"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/colo-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

kpkg=${COLO_GUEST_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
fi
[ -n "$kpkg" ] ||
    die "apt knows no linux-image-amd64 package; run 'apt-get update' (as root) and try again."

log "downloading $kpkg and busybox-static (apt-get download)"
(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" busybox-static \
     >"$tmp/apt.log" 2>&1) ||
    die "apt-get download $kpkg busybox-static failed (see: $(tail -n 1 "$tmp/apt.log"))."

log "unpacking"
mkdir -p "$tmp/k" "$tmp/bb"
dpkg-deb -x "$tmp/$kpkg"_*.deb "$tmp/k"
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
kver=$(ls "$tmp/k/lib/modules")
[ -f "$tmp/k/boot/vmlinuz-$kver" ] || die "$kpkg holds no /boot/vmlinuz-$kver."
bb=$tmp/bb/bin/busybox
[ -x "$bb" ] || die "busybox-static holds no /bin/busybox."
"$bb" depmod -b "$tmp/k" "$kver"
mdir=$tmp/k/lib/modules/$kver

# add_module PATH: append the module's dependencies, deepest first, then
# the module itself to $order (modules.dep paths, relative to $mdir).
declare -A seen=()
order=()
add_module()
{
    local m=$1 d
    [ -z "${seen[$m]:-}" ] || return 0
    seen[$m]=1
    for d in $(sed -n "s|^$m: *||p" "$mdir/modules.dep"); do
        add_module "$d"
    done
    order+=("$m")
}
modpath()
{
    local p
    p=$(grep -oE "^[^:]*/$1\.ko(\.xz|\.zst)?:" "$mdir/modules.dep" | head -n 1)
    [ -n "$p" ] || die "$kpkg has no module $1."
    echo "${p%:}"
}

root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
for nic in e1000 virtio; do
    seen=()
    order=()
    case $nic in
    e1000) add_module "$(modpath e1000)" ;;
    virtio) add_module "$(modpath virtio_pci)"
            add_module "$(modpath virtio_net)" ;;
    esac
    : > "$root/lib/modules/$nic.order"
    for m in "${order[@]}"; do
        b=$(basename "$m")
        case $b in
        *.xz) xz -dc "$mdir/$m" > "$root/lib/modules/${b%.xz}"; b=${b%.xz} ;;
        *.zst) zstd -qdc "$mdir/$m" > "$root/lib/modules/${b%.zst}"; b=${b%.zst} ;;
        *) cp "$mdir/$m" "$root/lib/modules/$b" ;;
        esac
        echo "$b" >> "$root/lib/modules/$nic.order"
    done
done

cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
install -m 755 "$here/init" "$root/init"
install -m 755 "$here/colo-connect" "$root/bin/colo-connect"
install -m 755 "$here/colo-uuid" "$root/bin/colo-uuid"
install -m 755 "$here/colo-line" "$root/bin/colo-line"
gcc -static -Os -s -o "$root/bin/udp-echo" "$here/udp-echo.c" ||
    die "cannot build a static binary (gcc -static); install libc6-dev: 'make deps'."

log "writing the initramfs"
# A newc cpio written by hand: fixed owners and times (reproducible),
# and a /dev/console node without needing mknod.
python3 - "$root" "$tmp/initrd" <<'PY'
import os, stat, sys
root, out = sys.argv[1], sys.argv[2]
ino = [1000]
def entry(f, name, mode, data=b"", rdev=(0, 0), nlink=1):
    ino[0] += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08x" % v for v in (
        ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
        len(name_b), 0))
    f.write(hdr.encode() + name_b)
    f.write(b"\0" * (-(110 + len(name_b)) % 4))
    f.write(data)
    f.write(b"\0" * (-len(data) % 4))
with open(out, "wb") as f:
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if rel != ".":
            entry(f, rel, stat.S_IFDIR | 0o755, nlink=2)
        for n in sorted(files):
            p = os.path.join(d, n)
            name = os.path.normpath(os.path.join(rel, n))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                entry(f, name, stat.S_IFLNK | 0o777, os.readlink(p).encode())
            else:
                with open(p, "rb") as g:
                    entry(f, name, stat.S_IFREG | (st.st_mode & 0o777), g.read())
        for n in sorted(dirs):
            p = os.path.join(d, n)
            if os.path.islink(p):
                name = os.path.normpath(os.path.join(rel, n))
                entry(f, name, stat.S_IFLNK | 0o777, os.readlink(p).encode())
    entry(f, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    entry(f, "TRAILER!!!", 0)
PY

mkdir -p "$dir.new"
cp "$tmp/k/boot/vmlinuz-$kver" "$dir.new/vmlinuz"
gzip -9n < "$tmp/initrd" > "$dir.new/initrd.img"
echo "$kver" > "$dir.new/kernel-version"
echo "$kpkg" > "$dir.new/kernel-package"
touch "$dir.new/.complete"
rm -rf "$dir"
mv "$dir.new" "$dir"
# Older guests (built by older versions of these scripts) go.
for old in "$cache"/*/; do
    [ "${old%/}" = "$dir" ] || rm -rf "${old%/}"
done
log "guest built in $dir (kernel $kver)"
echo "$dir"
