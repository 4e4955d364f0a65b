#!/usr/bin/env bash
# tools/build-toolbox.sh: unpack the toolbox (tools/toolbox.lock) into a
# cached merged-/usr tree and print its path. build-tools-disk.sh puts the
# tree into the tools disk under /toolbox; the guest agent mounts its usr/
# on /usr and links its etc/ entries into /etc (guest/agent/toolbox.c).
#
# Every .deb is fetched and checked against the lock by fetch_deb (one
# apt-get call for all the missing ones first: 138 separate calls take
# minutes). Maintainer scripts do not run, so what they would do and the
# guest needs is done here: the usr-merge (Debian 12 packages still ship
# /bin, /lib...; the guest has them under /usr), the alternatives the
# toolbox's tools are called by (awk, pager, which...), and OpenSSL's
# cert.pem pointing at the guest's CA bundle. Documentation, manual pages
# and translations are dropped (~40 MB nobody reads in a sandbox).
. "$(dirname "$0")/../third_party/lib.sh"
need_tool dpkg-deb dpkg
lock=$VB_TOP/tools/toolbox.lock

hash=$(sha256sum "$0" "$lock" | sha256sum | cut -c1-16)
final=$VB_CACHE/toolbox-$hash
if [ -f "$final/.vb-done" ]; then echo "$final/root"; exit 0; fi
if [ -z "${VB_TOOLBOX_LOCKED:-}" ]; then
	VB_TOOLBOX_LOCKED=1 with_lock toolbox "$0" "$@"
	exit $?
fi
if [ -f "$final/.vb-done" ]; then echo "$final/root"; exit 0; fi

t0=$SECONDS
mapfile -t pins < <(awk '$1 == "deb" { print $2 "=" $3 }' "$lock")
[ "${#pins[@]}" -gt 0 ] || die "no packages in $lock"
missing=()
for p in "${pins[@]}"; do
	[ -f "$(deb_path "${p%%=*}" "${p#*=}")" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	need_tool apt-get apt
	say "toolbox: downloading ${#missing[@]} of ${#pins[@]} packages"
	# A vanished pin fails the whole call; fetch_deb below then handles
	# each package on its own (fallback, loud lock rewrite).
	(cd "$VB_DL" && apt-get download -q "${missing[@]}" >/dev/null 2>&1) || true
fi

tmp=$(mktemp -d "$VB_CACHE/toolbox-tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"
for p in "${pins[@]}"; do
	deb=$(VB_LOCK=$lock fetch_deb "${p%%=*}")
	dpkg-deb -x "$deb" "$root" || die "unpacking $p failed"
done
# The lock may have been rewritten by a fallback: record what was used.
awk '$1 == "deb" { print $2, $3 }' "$lock" >"$tmp/packages"

# usr-merge: /bin, /sbin, /lib* of the packages move under /usr.
for d in bin sbin lib lib32 lib64 libx32; do
	[ -d "$root/$d" ] && [ ! -L "$root/$d" ] || continue
	mkdir -p "$root/usr/$d"
	while IFS= read -r -d '' f; do
		rel=${f#"$root/$d/"}
		if [ -e "$root/usr/$d/$rel" ] || [ -L "$root/usr/$d/$rel" ]; then
			[ -d "$f" ] && [ ! -L "$f" ] && continue
			die "toolbox: /$d/$rel and /usr/$d/$rel both exist"
		fi
		mkdir -p "$(dirname "$root/usr/$d/$rel")"
		mv "$f" "$root/usr/$d/$rel"
	done < <(find "$root/$d" -mindepth 1 \( -type d -empty -o ! -type d \) -print0)
	rm -rf "${root:?}/$d"
done
rm -rf "$root/usr/share/"{doc,man,info,locale,lintian,bug,doc-base,bash-completion} \
	"$root/var" "$root/run" "$root/srv" "$root/boot" "$root/home" "$root/opt" \
	"$root/media" "$root/mnt" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"

# The alternatives the packages' postinst scripts would register.
mkdir -p "$root/etc/alternatives"
alt()	# NAME LINK TARGET: LINK -> /etc/alternatives/NAME -> TARGET
{
	[ -e "$root$3" ] || die "toolbox: alternative $1: no $3"
	ln -sfn "$3" "$root/etc/alternatives/$1"
	ln -sfn "/etc/alternatives/$1" "$root$2"
}
alt awk /usr/bin/awk /usr/bin/gawk
alt nawk /usr/bin/nawk /usr/bin/gawk
alt pager /usr/bin/pager /usr/bin/less
alt which /usr/bin/which /usr/bin/which.debianutils
alt lzma /usr/bin/lzma /usr/bin/xz
alt unlzma /usr/bin/unlzma /usr/bin/unxz
alt lzcat /usr/bin/lzcat /usr/bin/xzcat
# OpenSSL (python3's ssl, openssl s_client) reads OPENSSLDIR/cert.pem.
[ -e "$root/usr/lib/ssl/cert.pem" ] ||
	ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
# Where the guest's /usr/local is mounted (a tmpfs: claude and the user's own).
mkdir -p "$root/usr/local"
# Nothing in the image is set-id: the guest runs everything as one user.
find "$root" -perm /6000 -type f -exec chmod ug-s {} +

mkdir -p "$tmp/final"
mv "$root" "$tmp/final/root"
mv "$tmp/packages" "$tmp/final/packages"
touch "$tmp/final/.vb-done"
rm -rf "$final"
atomic_install "$tmp/final" "$final"
say "toolbox: ${#pins[@]} packages unpacked in $((SECONDS - t0)) s, $(du -sm "$final/root" | cut -f1) MB"
echo "$final/root"
