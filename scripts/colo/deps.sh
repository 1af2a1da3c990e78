#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing the series needs, from Debian 12
# (bookworm) and bookworm-backports.  Adds a trixie *deb-src* entry (for
# the QEMU source package only) and a bookworm-backports entry; never a
# trixie binary source.  Does nothing when everything is in place.

. "$(dirname "$0")/lib.sh"

# name:minimum-version ('-' for any)
PKGS=(
    build-essential gcc-multilib ccache ninja-build pkgconf flex bison
    python3 python3-venv python3-setuptools dpkg-dev patch rsync git
    libglib2.0-dev libpixman-1-dev zlib1g-dev libslirp-dev libfdt-dev
    libcap-ng-dev seabios ipxe-qemu socat iproute2 procps
)
BACKPORTS_PKGS=(meson python3-pycotap)
SRC_LIST=/etc/apt/sources.list.d/colo-proxy-build.sources

pkg_ok()
{
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
        grep -q '^install ok installed$'
}

meson_ok()
{
    command -v meson >/dev/null 2>&1 &&
        dpkg --compare-versions "$(meson --version 2>/dev/null)" ge 1.5
}

missing=()
for p in "${PKGS[@]}"; do
    pkg_ok "$p" || missing+=("$p")
done
need_backports=
meson_ok || need_backports=y
pkg_ok python3-pycotap || need_backports=y
need_src=
grep -rqs '^Suites:.*trixie' /etc/apt/sources.list.d/ 2>/dev/null ||
    grep -qs '^deb-src .* trixie' /etc/apt/sources.list 2>/dev/null ||
    need_src=y

if [ ${#missing[@]} -eq 0 ] && [ -z "$need_backports" ] && [ -z "$need_src" ]
then
    exit 0
fi

[ "$(id -u)" = 0 ] ||
    die "packages are missing (${missing[*]:-meson>=1.5 python3-pycotap}); run 'make deps' as root once."

[ -r /etc/os-release ] && . /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
    log "warning: this is not Debian 12 (bookworm); package names may differ"

if [ ! -e "$SRC_LIST" ]; then
    log "adding apt entries: trixie deb-src (QEMU source only), bookworm-backports"
    cat > "$SRC_LIST" <<'SRC'
# Added by the COLO-proxy build: the QEMU 10.0 source package from trixie
# (source only: no trixie binaries) and meson >= 1.5 from backports.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -qq ||
    die "apt-get update failed: the Debian archive cannot be reached (check the network or apt proxy)."
log "installing: ${missing[*]} ${BACKPORTS_PKGS[*]}"
apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null ||
    die "apt-get install failed for: ${missing[*]}."
apt-get install -y -qq -o Dpkg::Use-Pty=0 -t bookworm-backports \
    "${BACKPORTS_PKGS[@]}" >/dev/null ||
    die "could not install meson >= 1.5 and python3-pycotap from bookworm-backports."
meson_ok || die "meson >= 1.5 is still not the default meson; check /usr/local/bin/meson."
