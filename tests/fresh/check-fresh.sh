#!/usr/bin/env bash
# tests/fresh/check-fresh.sh: `make check-fresh` — the README's commands in
# a fresh Debian 12 root, so a package the build or the tests need but only
# this machine has (seen: kmod) fails here instead of on a user's machine.
#
# Phases, each timed (a table at the end):
#   root       the cached minbase root tarball (mmdebstrap, built once per
#              key), unpacked anew: every run starts from the same pristine root
#   make       apt-get update && apt-get install -y make (the README's first command)
#   bootstrap  make bootstrap (every other package: that list is what is proven)
#   build      make (the README's build, from an empty cache)
#   check-unit make check-unit (the tiers that need no /dev/kvm, no nested host)
#   smoke      make check-smoke (L1 under QEMU TCG, one real guest on our VMM),
#              under the machine's nested-host lock /tmp/voidbox-testhost.lock
#
#   FRESH_DIR       cache and work dir (default ~/.cache/voidbox-fresh):
#                   root-KEY.tar, root/ (this run's root), log/PHASE.log
#   FRESH_MIRROR    Debian mirror (default http://deb.debian.org/debian;
#                   security from the same host's /debian-security)
#   FRESH_PHASES    phases after root (default: make bootstrap build check-unit
#                   smoke; "check" runs the whole suite, under the lock too)
#   FRESH_REBUILD=1 rebuild the root tarball (e.g. to pick up point releases)
#
# Needs root (chroot, mounts) and mmdebstrap (installed here if missing).
# The root tarball is keyed by mmdebstrap's version and its whole command
# line (suite, variant, sources), so a change of any of them builds a new
# one. The clone is copied in with `git archive HEAD` (committed files only,
# what CI sees). Nothing of this machine's build cache (~/.cache/voidbox-build)
# reaches the root, not even its download cache: the recipes verify every
# download's checksum, so reusing it would be safe, but it would skip the
# paths a new machine takes (deb-src enabled by bootstrap, apt-get source,
# apt-get download, npm pack through the registry), and all downloads
# together cost well under a minute here.
#
# Everything runs in a private mount namespace (unshare): the chroot's
# mounts cannot leak into the host's, and vanish with the script whatever
# way it ends; the EXIT trap unmounts them too.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
say() { echo "[check-fresh] $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root (mmdebstrap, chroot, mounts)"; exit 1; }

if [ -z "${FRESH_UNSHARED:-}" ]; then
	command -v unshare >/dev/null || { say "needs unshare (util-linux)"; exit 1; }
	FRESH_UNSHARED=1 exec unshare --mount --propagation private "$0" "$@"
fi

base=${FRESH_DIR:-${HOME:-/root}/.cache/voidbox-fresh}
root=$base/root
logs=$base/log
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
phases=${FRESH_PHASES:-make bootstrap build check-unit smoke}
mkdir -p "$base" "$logs"

# One check-fresh at a time per FRESH_DIR (they share root/).
exec 8>"$base/.lock"
flock -n 8 || { say "waiting for another check-fresh in $base"; flock 8; }

if ! command -v mmdebstrap >/dev/null; then
	say "installing mmdebstrap on this host"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null; }
fi

# Apt sources as a Debian 12 install has them (mmdebstrap writes these as
# the root's /etc/apt/sources.list): the pinned linux-source comes from
# bookworm-security. No deb-src: `make bootstrap` enables it.
MMDEBSTRAP=(mmdebstrap --variant=minbase --mode=root --format=tar bookworm)
SOURCES=("deb $mirror bookworm main"
	"deb $mirror bookworm-updates main"
	"deb ${mirror%/debian}/debian-security bookworm-security main")
key=$({ mmdebstrap --version; printf '%s\n' "${MMDEBSTRAP[@]}" "${SOURCES[@]}"; } | sha256sum | cut -c1-16)
tarball=$base/root-$key.tar

declare -a done_phases=()
declare -A secs=() result=()
t_all=$SECONDS

table()
{
	local p
	say "phase times:"
	for p in "${done_phases[@]}"; do
		printf '[check-fresh]   %-10s %5d s  %s\n' "$p" "${secs[$p]}" "${result[$p]}" >&2
	done
	printf '[check-fresh]   %-10s %5d s\n' total $((SECONDS - t_all)) >&2
}

# umount_root: every mount under the root, deepest first.
umount_root()
{
	local m
	{ findmnt -rn -o TARGET | grep -E "^$root(/|\$)" || true; } | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
}

# kill_root: whatever a phase left running in the root (a test's leaked
# helper), so the root can go and nothing of it outlives the run.
kill_root()
{
	local p real
	real=$(realpath "$root" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" != "$real" ] || kill -9 "${p#/proc/}" 2>/dev/null || true
	done
}

cleanup()
{
	local rc=$?
	kill_root
	umount_root
	[ ${#done_phases[@]} = 0 ] || table
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- phase root: the cached tarball, unpacked afresh -------------------------
t0=$SECONDS
if [ ! -f "$tarball" ] || [ -n "${FRESH_REBUILD:-}" ]; then
	say "mmdebstrap bookworm minbase (once per key $key, ~1 min)"
	"${MMDEBSTRAP[@]}" "$tarball.tmp" "${SOURCES[@]}" >"$logs/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$logs/mmdebstrap.log" >&2; rm -f "$tarball.tmp"; exit 1; }
	mv "$tarball.tmp" "$tarball"
	# Older keys (and the debootstrap-era base.tar) are of no further use.
	find "$base" -maxdepth 1 \( -name 'root-*.tar' ! -name "${tarball##*/}" -o -name 'root-*.tar.tmp' \
		-o -name base.tar -o -name debootstrap.log -o -name last.log \) -delete
fi
kill_root
umount_root
if findmnt -rn -o TARGET | grep -qE "^$root(/|\$)"; then
	say "something is still mounted under $root; not deleting it"; exit 1
fi
rm -rf "$root" && mkdir -p "$root"
tar -C "$root" -xf "$tarball"
# What a machine's installer (or a container runtime) writes, not any
# package: resolv.conf, and the hosts file that names localhost (the OTLP
# https test connects to localhost; musl has no built-in localhost).
cp /etc/resolv.conf "$root/etc/resolv.conf"
[ -f "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
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
	[ ! -f "$f" ] || { mkdir -p "$root${f%/*}" && cp "$f" "$root$f"; }
done
# The fresh root has only minbase (what a debian:12 container has): no
# make, no git, no compilers.
mkdir -p "$root/src/voidbox"
git -C "$top" archive HEAD | tar -C "$root/src/voidbox" -x
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"	# /dev/kvm as the host has it
done_phases+=(root); secs[root]=$((SECONDS - t0)); result[root]="ok ($(du -sm "$tarball" | cut -f1) MB tarball, key $key)"
say "root: ${result[root]} in ${secs[root]} s"

# in_root CMD: CMD by bash in the root, in the clone, in a clean environment.
in_root()
{
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		VOIDBOX_REQUIRE_VM="${VOIDBOX_REQUIRE_VM:-0}" \
		NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
		/bin/bash -c "cd /src/voidbox && $1"
}

# phase NAME [lock] -- CMD: run CMD in the root, time it, keep its log; a
# failure ends the run with the log's tail. With "lock", under the nested
# test host's machine-wide lock (the root's /tmp is not the host's, so it
# is taken out here, around the chroot).
phase()
{
	local name=$1 lock=$2 cmd=$4 rc t
	say "$name: $cmd"
	if [ "$lock" = lock ]; then
		exec 9>/tmp/voidbox-testhost.lock
		if ! flock -n 9; then
			say "$name: waiting for /tmp/voidbox-testhost.lock (another nested-host run)"
			t=$SECONDS; flock 9; say "$name: got the lock after $((SECONDS - t)) s (not counted)"
		fi
	fi
	t=$SECONDS
	set +e
	in_root "$cmd" 8>&- 9>&- </dev/null >"$logs/$name.log" 2>&1
	rc=$?
	set -e
	[ "$lock" != lock ] || exec 9>&-
	done_phases+=("$name"); secs[$name]=$((SECONDS - t))
	grep -E '^(PASS|FAIL|SKIP):|passed, .* failed|^\[host-deps\] installing' "$logs/$name.log" |
		sed 's/^/    /' >&2 || true
	if [ "$rc" != 0 ]; then
		result[$name]="FAIL (exit $rc, log $logs/$name.log)"
		say "$name failed (exit $rc); last lines of $logs/$name.log:"
		tail -40 "$logs/$name.log" | sed 's/^/    /' >&2
		exit "$rc"
	fi
	result[$name]=ok
	say "$name: ok in ${secs[$name]} s"
}

for p in $phases; do
	case $p in
	make) phase make - -- "apt-get update && apt-get install -y make" ;;
	bootstrap) phase bootstrap - -- "make bootstrap" ;;
	build) phase build - -- "make" ;;
	check-unit) phase check-unit - -- "make check-unit" ;;
	smoke) phase smoke lock -- "make check-smoke" ;;
	check) phase check lock -- "make check" ;;
	*) say "unknown phase $p"; exit 2 ;;
	esac
done
say "the README's commands work in a fresh Debian 12 root (logs: $logs)"
