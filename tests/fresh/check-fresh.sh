#!/usr/bin/env bash
# tests/fresh/check-fresh.sh: `make check-fresh` — the README's commands in
# a fresh Debian 12 root, so a package the build needs but only this machine
# has (seen: kmod) fails here instead of in CI.
#
#   FRESH_DIR   where the root lives (default ~/.cache/voidbox-fresh/root);
#               a clean debootstrap'd base is kept as base.tar and unpacked
#               anew each run, so every run starts from the same fresh root
#   FRESH_CHECK what to run after the build: "check-build" (default: build
#               products) or "check" (everything; needs /dev/kvm passed in)
#
# Needs root and debootstrap (apt-get install debootstrap). The clone is
# copied in with `git archive` (what CI sees: committed files only); the
# build cache inside the root starts empty, as on a new machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "check-fresh: needs root (chroot, debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null ||
	{ echo "check-fresh: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
base=${FRESH_DIR:-${HOME:-/root}/.cache/voidbox-fresh}
root=$base/root
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
say() { echo "[check-fresh] $*" >&2; }

cleanup() {
	for m in dev/pts dev proc sys; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
	done
}
trap cleanup EXIT

mkdir -p "$base"
if [ ! -f "$base/base.tar" ]; then
	say "debootstrap bookworm (minbase, a few minutes, once)"
	rm -rf "$base/boot"
	debootstrap --variant=minbase bookworm "$base/boot" "$mirror" >"$base/debootstrap.log" 2>&1 ||
		{ tail -20 "$base/debootstrap.log" >&2; exit 1; }
	tar -C "$base/boot" -cf "$base/base.tar.tmp" . && mv "$base/base.tar.tmp" "$base/base.tar"
	rm -rf "$base/boot"
fi
cleanup
rm -rf "$root" && mkdir -p "$root"
tar -C "$root" -xf "$base/base.tar"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's network trust (a local CA that TLS egress is re-signed
# with, and npm told to use the system bundle) belongs to the workplace,
# not to the project: every fresh machine here has it too. Without it npm
# fails with SELF_SIGNED_CERT_IN_CHAIN. The ca-certificates package that
# `make bootstrap` installs folds these into the root's bundle.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
for f in /etc/npmrc /usr/etc/npmrc; do
	[ -f "$f" ] && mkdir -p "$root${f%/*}" && cp "$f" "$root$f"
done
# Apt sources as a Debian 12 install (and the debian:12 image) has them:
# debootstrap writes only "bookworm main", but the pinned linux-source
# comes from bookworm-security.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# The fresh root has only what debootstrap's minbase brings (what a
# debian:12 container has): no make, no git, no compilers. The README's
# first command installs make, then `make bootstrap` everything else.
mkdir -p "$root/src/voidbox"
git -C "$top" archive HEAD | tar -C "$root/src/voidbox" -x
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
t0=$SECONDS
say "make bootstrap && make && make ${FRESH_CHECK:-check-build} in the fresh root"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	TERM=dumb LANG=C.UTF-8 VOIDBOX_REQUIRE_VM="${VOIDBOX_REQUIRE_VM:-0}" \
	NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
	/bin/bash -c "cd /src/voidbox && apt-get update -qq && apt-get install -y -qq make >/dev/null && make bootstrap && make -j$(nproc) WERROR=1 && make ${FRESH_CHECK:-check-build}" \
	2>&1 | tee "$base/last.log" | grep -E '^\[|PASS|FAIL|passed|Error|error:'
rc=${PIPESTATUS[0]}
set -e
say "done in $((SECONDS - t0)) s, exit $rc (log: $base/last.log)"
exit "$rc"
