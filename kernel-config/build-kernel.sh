#!/usr/bin/env bash
# kernel-config/build-kernel.sh OUT: build the guest kernel from the pinned
# Debian linux-source with guest.fragment on top of tinyconfig, and link the
# cached result directory at OUT (holding bzImage, vmlinux, .config).
#
# tinyconfig + fragment rather than a full config file: the fragment states
# every choice we make, and tinyconfig guarantees nothing else sneaks in.
# Every fragment line is verified against the final .config: kconfig drops
# options whose dependencies are missing without a word, and we want a word.
. "$(dirname "$0")/../third_party/lib.sh"

out=${1:?usage: build-kernel.sh OUT}
for t in gcc:build-essential make:make flex:flex bison:bison bc:bc \
	lz4:lz4 perl:perl; do
	need_tool "${t%%:*}" "${t#*:}"
done
[ -f /usr/include/gelf.h ] || die "missing libelf headers: apt-get install libelf-dev"

frag=$VB_TOP/kernel-config/guest.fragment
hash=$(VB_HASH_PINS='^deb linux-source' recipe_hash "$0" "$frag" "$VB_TOP/third_party/linux-src.sh")
final=$VB_CACHE/kernel-$hash
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final" "$out"; exit 0
fi

if [ -z "${VB_KERNEL_LOCKED:-}" ]; then	# see build-deps.sh
	VB_KERNEL_LOCKED=1 with_lock kernel "$0" "$@"
	exit $?
fi
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final" "$out"; exit 0
fi

ksrc=$("$VB_TOP/third_party/linux-src.sh")
obj=$VB_CACHE/kernel-obj-$hash
mkdir -p "$obj"
# env -u MAKEFLAGS: run from a parent `make -j`, the kernel's make would
# inherit a jobserver whose fds never reached this script and fall back to
# -j1 ("jobserver unavailable"); -j$(nproc) below is meant.
K=(env -u MAKEFLAGS -u MFLAGS make -s -C "$ksrc" O="$obj" ARCH=x86_64 KBUILD_BUILD_USER=voidbox
	KBUILD_BUILD_HOST=voidbox KBUILD_BUILD_TIMESTAMP="@0" KBUILD_BUILD_VERSION=1)

t0=$SECONDS
say "configuring the guest kernel"
"${K[@]}" tinyconfig >/dev/null
"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$frag" >/dev/null
"${K[@]}" olddefconfig >/dev/null

bad=0
while IFS= read -r l; do
	case $l in
	CONFIG_*=*) k=${l%%=*} ;;
	"# CONFIG_"*" is not set") k=${l#\# }; k=${k%% *} ;;
	*) continue ;;
	esac
	have=$(grep -E "^$k=|^# $k is not set" "$obj/.config" || echo "# $k is not set")
	if [ "$have" != "$l" ]; then
		printf '[kernel] fragment line not honoured: want "%s", have "%s"\n' "$l" "$have" >&2
		bad=1
	fi
done <"$frag"
[ $bad = 0 ] || die "kernel config does not match kernel-config/guest.fragment (missing dependency?)"

say "building the guest kernel (about 4 minutes on 2 cores, cached afterwards)"
if ! "${K[@]}" -j"$(nproc)" bzImage >"$obj/build.log" 2>&1; then
	tail -30 "$obj/build.log" >&2
	die "kernel build failed (log: $obj/build.log)"
fi

tmp=$(mktemp -d "$VB_CACHE/kernel-tmp.XXXXXX")
cp "$obj/arch/x86/boot/bzImage" "$obj/vmlinux" "$obj/.config" "$tmp/"
cp "$obj/usr/gen_init_cpio" "$tmp/" 2>/dev/null || true
read -r kver _ < <(lock_get deb linux-source-6.12)
echo "linux-source-6.12 $kver" >"$tmp/VERSION"
touch "$tmp/.vb-done"
rm -rf "$final"
atomic_install "$tmp" "$final"
rm -rf "$obj"
ln -sfn "$final" "$out"
say "kernel ready in $((SECONDS - t0)) s: $(stat -c %s "$final/bzImage") bytes bzImage"
