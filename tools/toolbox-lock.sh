#!/usr/bin/env bash
# tools/toolbox-lock.sh: re-resolve tools/toolbox.list into tools/toolbox.lock.
#
# apt resolves the list against an empty dpkg status (so nothing the build
# host happens to have installed is taken as present) without Recommends;
# every package of the answer is pinned by version and the archive's
# SHA256 of its .deb, in third_party/versions.lock's format, which
# fetch_deb (third_party/lib.sh) reads. Run it after `apt-get update` when
# you want newer packages; review and commit the lock.
. "$(dirname "$0")/../third_party/lib.sh"
need_tool apt-get apt

list=$VB_TOP/tools/toolbox.list
lock=$VB_TOP/tools/toolbox.lock
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/status"
mapfile -t pkgs < <(sed 's/#.*//; /^[[:space:]]*$/d' "$list")
apt-get -q -o Dir::State::status="$tmp/status" -o APT::Install-Recommends=0 \
	-s install "${pkgs[@]}" >"$tmp/sim" 2>&1 || { cat "$tmp/sim" >&2; die "apt could not resolve $list"; }
awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2, v }' "$tmp/sim" | LC_ALL=C sort >"$tmp/pkgs"
[ -s "$tmp/pkgs" ] || die "apt resolved $list to nothing"
{
	echo "# tools/toolbox.lock: the toolbox's packages (tools/toolbox.list and their"
	echo "# dependencies), written by tools/toolbox-lock.sh. Format as in"
	echo "# third_party/versions.lock: kind name version sha256-of-the-.deb."
	while read -r n v; do
		sha=$(apt-cache show "$n=$v" | awk '/^SHA256:/ { print $2; exit }')
		[ -n "$sha" ] || die "no SHA256 for $n=$v in apt's index"
		printf 'deb\t%s\t%s\t%s\t\n' "$n" "$v" "$sha"
	done <"$tmp/pkgs"
} >"$tmp/lock"
mv "$tmp/lock" "$lock"
say "toolbox: $(grep -c '^deb' "$lock") packages pinned in $lock"
