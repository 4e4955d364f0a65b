# third_party/lib.sh: shared helpers for every recipe (sourced, not run).
#
# Everything third-party reaches the build through these functions:
#   fetch_deb NAME   -> path of the pinned binary .deb in the download cache
#   fetch_src NAME   -> path of the pinned Debian source tree, unpacked once
#   need_tool CMD PKG -> stop with the apt package that provides CMD
#   recipe_hash F... -> short hash keying a cache directory
#
# Pins live in third_party/versions.lock (see that file). Debian's archive
# serves only the newest version of most packages, so when a pinned version
# has vanished we fall back to the archive's current candidate, say so loudly
# on stderr, and rewrite the lock line: never a silent change, never a broken
# cold build (docs/architecture.md, "Pins and the moving archive").

set -euo pipefail

VB_TOP=${VB_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VB_CACHE=${VOIDBOX_CACHE:-${HOME:-/root}/.cache/voidbox-build}
VB_LOCK=${VB_LOCK:-$VB_TOP/third_party/versions.lock}
VB_DL=$VB_CACHE/dl
mkdir -p "$VB_DL"

say()  { printf '[third_party] %s\n' "$*" >&2; }
die()  { printf '[third_party] error: %s\n' "$*" >&2; exit 1; }
loud() {
	printf '\n[third_party] ************************************************\n' >&2
	printf '[third_party] WARNING: %s\n' "$@" >&2
	printf '[third_party] ************************************************\n\n' >&2
}

# need_tool CMD APT-PACKAGE: a missing tool names the package to install.
need_tool()
{
	command -v "$1" >/dev/null 2>&1 ||
		die "missing tool '$1': install it with 'apt-get install $2'"
}

# lock_get KIND NAME -> "version sha256 fallback" (fallback may be empty)
lock_get()
{
	awk -v k="$1" -v n="$2" '$1==k && $2==n { print $3, $4, $5; f=1 } END { exit !f }' \
		"$VB_LOCK" || die "no '$1 $2' line in $VB_LOCK"
}

# lock_set KIND OLDNAME NEWNAME VERSION SHA256: rewrite one lock line in place.
lock_set()
{
	local tmp
	tmp=$(mktemp "$VB_LOCK.XXXXXX")
	awk -v k="$1" -v o="$2" -v n="$3" -v v="$4" -v s="$5" '
		$1==k && $2==o { $2=n; $3=v; $4=s } { print }' OFS='\t' "$VB_LOCK" >"$tmp"
	mv "$tmp" "$VB_LOCK"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# candidate NAME: the version apt would fetch now (empty when unknown).
candidate()
{
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }' |
		grep -v '(none)' || true
}

# Resolve a renamed binary package through its meta package: for
# linux-image-6.1.0-NN-cloud-amd64 the fallback names linux-image-cloud-amd64,
# whose first linux-image-* dependency is the current ABI package.
resolve_meta()
{
	apt-cache depends "$1" 2>/dev/null |
		awk '/Depends: linux-image-/ { print $2; exit }'
}

# deb_path NAME VERSION: where apt-get download puts it (arch may be all).
deb_path()
{
	local f
	for f in "$VB_DL/${1}_${2//:/%3a}_"*.deb; do echo "$f"; return; done
}

# fetch_deb NAME: print the cached path of the pinned .deb, downloading and
# verifying it first when needed.
fetch_deb()
{
	local name=$1 ver sha fb file got newname
	read -r ver sha fb < <(lock_get deb "$name")
	file=$(deb_path "$name" "$ver")
	if [ -f "$file" ] && [ "$(sha256_of "$file")" = "$sha" ]; then
		echo "$file"; return
	fi
	need_tool apt-get apt
	say "downloading $name=$ver"
	if ! (cd "$VB_DL" && apt-get download -q "$name=$ver" >/dev/null 2>&1); then
		newname=$name
		[ -n "${fb:-}" ] && newname=$(resolve_meta "$fb")
		[ -n "$newname" ] || die "$name=$ver: not in the archive and no replacement found (run apt-get update?)"
		got=$(candidate "$newname")
		[ -n "$got" ] || die "$name=$ver: download failed and '$newname' has no candidate (run apt-get update?)"
		loud "$name=$ver has vanished from Debian's archive." \
		     "Falling back to $newname=$got and updating $VB_LOCK." \
		     "Review and commit the lock change."
		(cd "$VB_DL" && apt-get download -q "$newname=$got" >/dev/null) ||
			die "download of $newname=$got failed"
		file=$(deb_path "$newname" "$got")
		[ -f "$file" ] || die "download of $newname=$got produced no $file"
		lock_set deb "$name" "$newname" "$got" "$(sha256_of "$file")"
		echo "$file"; return
	fi
	file=$(deb_path "$name" "$ver")
	[ -f "$file" ] || die "apt-get download $name=$ver produced no .deb"
	got=$(sha256_of "$file")
	if [ "$got" != "$sha" ]; then
		rm -f "$file"
		die "checksum mismatch for $name=$ver: expected $sha, got $got"
	fi
	echo "$file"
}

# fetch_src NAME: print the path of the unpacked, patched Debian source tree
# of the pinned version. apt verifies the files against the signed Sources
# index; we additionally pin the .dsc's sha256 (which pins the rest).
fetch_src()
{
	local name=$1 ver sha fb dsc dir got upver
	read -r ver sha fb < <(lock_get src "$name")
	upver=${ver#*:}
	dsc=$VB_DL/src/${name}_${upver}.dsc
	dir=$VB_CACHE/src/$name-$upver
	if [ -f "$dir/.vb-unpacked" ]; then echo "$dir"; return; fi
	mkdir -p "$VB_DL/src" "$VB_CACHE/src"
	if [ ! -f "$dsc" ] || [ "$(sha256_of "$dsc")" != "$sha" ]; then
		need_tool dpkg-source dpkg-dev
		say "downloading source $name=$ver"
		if ! (cd "$VB_DL/src" && apt-get source -q --download-only "$name=$ver" >/dev/null 2>&1); then
			grep -q '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources 2>/dev/null ||
				grep -q '^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null ||
				die "source $name=$ver: no deb-src entries in apt sources (see README: Building)"
			got=$(apt-cache showsrc "$name" 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -V | tail -1)
			[ -n "$got" ] || die "source $name=$ver: not found and no other version known"
			loud "source $name=$ver could not be downloaded." \
			     "Falling back to $name=$got and updating $VB_LOCK." \
			     "Review and commit the lock change."
			(cd "$VB_DL/src" && apt-get source -q --download-only "$name=$got" >/dev/null) ||
				die "download of source $name=$got failed"
			ver=$got; upver=${ver#*:}
			dsc=$VB_DL/src/${name}_${upver}.dsc
			lock_set src "$name" "$name" "$ver" "$(sha256_of "$dsc")"
			dir=$VB_CACHE/src/$name-$upver
		fi
		got=$(sha256_of "$dsc")
		read -r _ sha _ < <(lock_get src "$name")
		[ "$got" = "$sha" ] ||
			die "checksum mismatch for source $name=$ver (.dsc): expected $sha, got $got"
	fi
	rm -rf "$dir"
	# dpkg-source checks every file listed in the .dsc against its checksums.
	dpkg-source -q -x "$dsc" "$dir" >/dev/null 2>&1 ||
		die "unpacking source $name=$ver failed (dpkg-source -x $dsc)"
	touch "$dir/.vb-unpacked"
	echo "$dir"
}

# recipe_hash FILE...: 16 hex chars over the given files' contents, the lock
# lines they depend on and the compiler identity, so a pin or recipe change
# rebuilds. Only the lines matching $VB_HASH_PINS (an awk regex over
# "kind name"; default: every line) count, so pinning an unrelated package
# (a test-only .deb, an npm tool) does not rebuild the kernel or sysroot.
recipe_hash()
{
	{ cat "$@"
	  awk -v re="${VB_HASH_PINS:-.}" '!/^#/ && ($1 " " $2) ~ re' "$VB_LOCK"
	  musl-gcc --version 2>/dev/null | head -1; } |
		sha256sum | cut -c1-16
}

# with_lock NAME CMD...: run CMD holding an exclusive lock on NAME in the
# cache, so two builds of one cache entry (parallel clones, CI and a
# developer) take turns instead of trampling each other's work trees.
with_lock()
{
	local name=$1; shift
	need_tool flock util-linux
	( flock 9; "$@" ) 9>"$VB_CACHE/.lock-$name"
}

# atomic_install SRC DST: publish a finished cache entry in one rename so an
# interrupted or concurrent build never leaves a half-written directory.
atomic_install()
{
	local src=$1 dst=$2
	if ! mv -T "$src" "$dst" 2>/dev/null; then
		[ -d "$dst" ] || die "cannot publish $dst"
		rm -rf "$src"	# someone else finished first: theirs is as good
	fi
}

# npm_integrity FILE: npm's "sha512-<base64>" integrity string of a tarball.
npm_integrity() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# npm_path NAME VERSION: where npm pack puts it (@scope/name -> scope-name).
npm_path()
{
	local base=${1#@}
	echo "$VB_DL/${base//\//-}-$2.tgz"
}

# fetch_npm NAME: print the cached path of the pinned npm tarball (lock kind
# npm; the pin is the registry's dist.integrity, sha512), downloading it
# with npm pack and verifying it first when needed. The npm registry keeps
# old versions, but one can be unpublished: then we fall back to the newest
# version of the same MAJOR.MINOR series, loudly, and rewrite the lock.
fetch_npm()
{
	local name=$1 ver sum _fb file got series
	read -r ver sum _fb < <(lock_get npm "$name")
	file=$(npm_path "$name" "$ver")
	if [ -f "$file" ] && [ "$(npm_integrity "$file")" = "$sum" ]; then
		echo "$file"; return
	fi
	need_tool npm npm
	need_tool openssl openssl
	say "downloading npm $name@$ver"
	if ! (cd "$VB_DL" && npm pack -q --ignore-scripts --pack-destination "$VB_DL" \
		"$name@$ver" >/dev/null 2>&1); then
		series=$(echo "$ver" | cut -d. -f1,2)
		got=$(npm view "$name" versions --json 2>/dev/null |
			tr -d '[]", ' | grep -E "^${series//./\\.}\.[0-9]+$" | sort -V | tail -1) || true
		[ -n "$got" ] || die "npm $name@$ver: download failed and no $series.x version found (network? registry?)"
		[ "$got" != "$ver" ] || die "npm $name@$ver: npm pack failed though the registry lists it (network?)"
		loud "npm $name@$ver could not be downloaded (unpublished?)." \
		     "Falling back to $name@$got and updating $VB_LOCK." \
		     "Review and commit the lock change."
		(cd "$VB_DL" && npm pack -q --ignore-scripts --pack-destination "$VB_DL" \
			"$name@$got" >/dev/null) || die "npm pack $name@$got failed"
		file=$(npm_path "$name" "$got")
		[ -f "$file" ] || die "npm pack $name@$got produced no $file"
		lock_set npm "$name" "$name" "$got" "$(npm_integrity "$file")"
		echo "$file"; return
	fi
	[ -f "$file" ] || die "npm pack $name@$ver produced no $file"
	got=$(npm_integrity "$file")
	if [ "$got" != "$sum" ]; then
		rm -f "$file"
		die "integrity mismatch for npm $name@$ver: expected $sum, got $got"
	fi
	echo "$file"
}
