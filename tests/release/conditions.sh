#!/usr/bin/env bash
# tests/release/conditions.sh: voidbox needs zero external files. Each run
# condition of the single-file release must pass `voidbox selftest` on this
# machine's /dev/kvm: from an empty directory, with `env -i`, with HOME
# unset and read-only, as a non-root user that can open /dev/kvm, and in a
# minimal container (mount+pid namespaces; and a user namespace made by an
# unprivileged user, where the kernel allows it) whose root holds only the
# binary, /dev/kvm, /dev/null and /proc. Needs root to set the stage.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
VB=$(readlink -f "${VOIDBOX_BIN:-$B/voidbox-full}")
T=$(mktemp -d /tmp/vb-cond.XXXXXX)
trap '{ umount -R "$T/ctr" || umount -l "$T/ctr"; } 2>/dev/null; rm -rf "$T"' EXIT
# As user 65534 with no groups: util-linux's setpriv here; in the nested
# test host (busybox only) tests/testhost/runas.c, named by $RUNAS.
# (A command prefix, split on spaces: it is also used inside sh -c.)
nobody=${RUNAS:+$RUNAS 65534 65534}
nobody=${nobody:-setpriv --reuid=65534 --regid=65534 --clear-groups}
fails=0
if [ "$(id -u)" != 0 ] || [ ! -c /dev/kvm ]; then
	echo "SKIP: release-conditions (needs root and /dev/kvm)"
	[ "${VOIDBOX_REQUIRE_VM:-0}" = 1 ] && exit 1 || exit 77
fi
check() { # NAME CMD...: selftest must report "N passed, 0 failed"
	local name=$1; shift
	if out=$("$@" 2>&1) && grep -Eq '^[0-9]+ passed, 0 failed' <<<"$out"; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"; echo "$out" | tail -5 | sed 's/^/  | /'; fails=$((fails + 1))
	fi
}
cp "$VB" "$T/voidbox"
mkdir "$T/empty" "$T/rohome"
check cond-empty-dir sh -c "cd '$T/empty' && '$T/voidbox' selftest"
check cond-env-i env -i "$T/voidbox" selftest
check cond-home-unset env -u HOME "$T/voidbox" selftest
# Read-only HOME (root ignores mode bits, so a read-only bind mount).
check cond-home-readonly unshare -m sh -c "mount --bind '$T/rohome' '$T/rohome' &&
	mount -o remount,bind,ro '$T/rohome' && HOME='$T/rohome' XDG_CACHE_HOME= '$T/voidbox' selftest"
# A non-root user with its own /dev/kvm node (the host's stays as it is).
chmod 755 "$T"
mkdir "$T/dev" && mknod "$T/dev/kvm" c 10 232 && chown 65534:65534 "$T/dev/kvm"
check cond-non-root unshare -m sh -c "mount --bind '$T/dev/kvm' /dev/kvm &&
	cd '$T/empty' && $nobody env -i HOME=/nonexistent '$T/voidbox' selftest"
# The minimal container: only the binary, /dev/kvm, /dev/null and /proc.
mkdir -p "$T/ctr" && mount -t tmpfs -o mode=755 none "$T/ctr"
mkdir -p "$T/ctr/dev" "$T/ctr/proc"
cp "$VB" "$T/ctr/voidbox"
mknod "$T/ctr/dev/kvm" c 10 232 && chmod 666 "$T/ctr/dev/kvm"
mknod "$T/ctr/dev/null" c 1 3 && chmod 666 "$T/ctr/dev/null"
check cond-container unshare -m -p -f sh -c "mount -t proc proc '$T/ctr/proc' &&
	exec chroot '$T/ctr' /voidbox selftest"
echo "info: container root holds: $(cd "$T/ctr" && find . -mindepth 1 -maxdepth 2 ! -path './proc/*' | sort | tr '\n' ' ')"
# The same, entered by an unprivileged user through a user namespace.
if $nobody unshare -U -r true 2>/dev/null; then
	check cond-container-userns $nobody \
		unshare -U -r -m -p -f sh -c "mount -t proc proc '$T/ctr/proc' &&
		exec chroot '$T/ctr' /voidbox selftest"
else
	echo "SKIP: cond-container-userns (unprivileged user namespaces are disabled here)"
fi
exit $((fails > 0))
