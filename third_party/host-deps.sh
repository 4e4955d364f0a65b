#!/usr/bin/env bash
# third_party/host-deps.sh: install the Debian 12 packages the build and
# tests need (and enable deb-src, which the source recipes fetch from).
# Idempotent; needs root (or sudo). Everything else comes from pinned
# recipes, not from the host.
set -euo pipefail

PKGS=(
	build-essential musl-tools musl-dev dpkg-dev	# compilers, dpkg-source
	meson ninja-build pkg-config cmake gperf python3	# third-party builds
	tcl						# SQLite's amalgamation generator
	bc flex bison libelf-dev libssl-dev rsync perl	# kernel build
	kmod openssl					# L1 modules (tests/testhost), test CAs
	cpio lz4 zstd xz-utils bzip2 file binutils	# images, checks
	erofs-utils					# tools disk (tools/), image tests' fsck
	zlib1g-dev libzstd-dev				# image layer unit tests (host zlib, zstd)
	docker-registry apache2-utils			# image pulls: a real registry, htpasswd
	protobuf-c-compiler protobuf-compiler		# OTLP codegen, test decoder (tests/otel)
	qemu-system-x86					# nested test host, reference peer
	clang libclang-rt-14-dev			# libFuzzer targets (tests/fuzz)
	ca-certificates
)

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "host-deps: run as root (or install sudo)" >&2; exit 1; }
	SUDO=sudo
fi

# deb-src for the archive URIs apt already uses (deb822 or one-line style).
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "[host-deps] enabling deb-src" >&2
	src=/etc/apt/sources.list.d/voidbox-deb-src.sources
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk 'BEGIN { RS=""; ORS="\n\n" }
			     /Types:[^\n]*deb/ && /debian/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f"
		done
		if [ -f /etc/apt/sources.list ]; then
			sed -n 's/^deb \(.*debian.*\)/\1/p' /etc/apt/sources.list | while read -r uri suite comps; do
				printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' "$uri" "$suite" "$comps"
			done
		fi
	} | $SUDO tee "$src" >/dev/null
	[ -s "$src" ] || { echo "host-deps: found no Debian archive in apt sources to mirror as deb-src" >&2; exit 1; }
	NEED_UPDATE=1
fi

missing=()
for p in "${PKGS[@]}"; do
	[ "${p#\#}" = "$p" ] || continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm fetches the pinned claude-code package (third_party/lib.sh fetch_npm).
# By command, not by package: a Node.js from elsewhere (NodeSource's nodejs
# carries its own npm and conflicts with Debian's npm package) is fine.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ] || [ -n "${NEED_UPDATE:-}" ] || ! apt-cache showsrc zlib >/dev/null 2>&1 ||
	[ -z "$(apt-cache showsrc zlib 2>/dev/null)" ]; then
	echo "[host-deps] apt-get update" >&2
	$SUDO apt-get update -q >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "[host-deps] installing: ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "[host-deps] host ready" >&2
