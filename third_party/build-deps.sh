#!/usr/bin/env bash
# third_party/build-deps.sh OUT: build the static musl sysroot voidbox links
# against, from pinned Debian sources, and link it at OUT (a symlink into the
# cache). Cached by a hash of this recipe + the lock: a warm run is instant.
#
# Contents: lib/*.a for zlib, zstd (decompression), libyaml, cJSON, libseccomp, BearSSL,
# protobuf-c (runtime only), SQLite (the run history), libslirp and what it needs (glib-2.0 core,
# pcre2, libffi), plus include/ with the kernel uapi headers from the same
# pinned linux-source the guest kernel is built from (never the host's).
. "$(dirname "$0")/lib.sh"

out=${1:?usage: build-deps.sh OUT}
for t in musl-gcc:musl-tools meson:meson ninja:ninja-build pkg-config:pkg-config \
	cmake:cmake gperf:gperf python3:python3 rsync:rsync make:make bzip2:bzip2 \
	tclsh:tcl; do
	need_tool "${t%%:*}" "${t#*:}"
done

# Only source packages and the kernel headers' source feed the sysroot.
hash=$(VB_HASH_PINS='^src |^deb linux-source' recipe_hash "$0" "$VB_TOP/third_party/linux-src.sh")
final=$VB_CACHE/sysroot-$hash
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final" "$out"; exit 0
fi

# One builder at a time per machine: sources are unpacked once in the cache
# and built in place, so concurrent builds must not share them. A builder
# that waited finds the finished entry and is done.
if [ -z "${VB_DEPS_LOCKED:-}" ]; then
	VB_DEPS_LOCKED=1 with_lock sysroot "$0" "$@"
	exit $?
fi
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final" "$out"; exit 0
fi

P=$(mktemp -d "$VB_CACHE/sysroot-tmp.XXXXXX")
LOG=$P/log
mkdir -p "$P/lib" "$P/include" "$LOG"
export CC=musl-gcc AR=ar RANLIB=ranlib
export CFLAGS="-Os -ffunction-sections -fdata-sections -isystem $P/include"
export LDFLAGS="-L$P/lib"          # libffi.pc carries no -L
export PKG_CONFIG_LIBDIR=$P/lib/pkgconfig PKG_CONFIG_PATH=   # never see glibc .pc files
J=-j$(nproc)

# step NAME: run the function NAME with its source tree as cwd; on failure
# show the log tail and name the package.
step()
{
	local n=$1 src t0=$SECONDS
	src=$(fetch_src "$2")
	if ! (cd "$src" && "$n") >"$LOG/$n" 2>&1; then
		tail -25 "$LOG/$n" >&2
		die "building $2 failed (full log: $LOG/$n)"
	fi
	say "built $2 in $((SECONDS - t0)) s"
}

uapi()
{
	local k
	# Called under `if !`, where set -e is off: a failed fetch must stop
	# here, not surface later as a missing <linux/limits.h> in libffi.
	k=$("$VB_TOP/third_party/linux-src.sh") && [ -d "$k" ] || return 1
	make -s -C "$k" ARCH=x86_64 O="$P/kobj" headers_install INSTALL_HDR_PATH="$P"
	rm -rf "$P/kobj"
}
zlib()
{
	./configure --static --prefix="$P" && make $J libz.a && make install
}
zstd()
{
	# Decompression only (zstd image layers): no compressor, no
	# dictionary builder, no legacy formats.
	make $J -C lib libzstd.a CC=musl-gcc ZSTD_LIB_COMPRESSION=0 \
		ZSTD_LIB_DICTBUILDER=0 ZSTD_LIB_DEPRECATED=0 ZSTD_LEGACY_SUPPORT=0 \
		ZSTD_NO_ASM=1 &&
	cp lib/libzstd.a "$P/lib/" && cp lib/zstd.h lib/zstd_errors.h "$P/include/"
}
pcre2()
{
	./configure --prefix="$P" --host=x86_64-linux-musl --disable-shared \
		--enable-static --disable-pcre2grep-libz --disable-pcre2grep-libbz2 \
		--disable-pcre2test-libedit --disable-pcre2test-libreadline &&
	make $J libpcre2-8.la &&
	make install-libLTLIBRARIES install-nodist_includeHEADERS install-pkgconfigDATA
}
libffi()
{
	./configure --prefix="$P" --host=x86_64-linux-musl --disable-shared \
		--enable-static --disable-docs --disable-multi-os-directory &&
	make $J && make install
}
glib()
{
	# glib-2.0 core only matters (libslirp); tests, docs, i18n, tracing and
	# the optional system integrations are all off to keep it small.
	rm -rf _vb && meson setup _vb --prefix="$P" --libdir=lib --buildtype=minsize \
		--default-library=static --wrap-mode=nofallback \
		-Dtests=false -Dinstalled_tests=false -Dlibmount=disabled \
		-Dselinux=disabled -Dxattr=false -Dlibelf=disabled -Dnls=disabled \
		-Dman=false -Dgtk_doc=false -Dsysprof=disabled -Ddtrace=false \
		-Dsystemtap=false &&
	ninja -C _vb $J && meson install -C _vb
}
slirp()
{
	rm -rf _vb && meson setup _vb --prefix="$P" --libdir=lib --buildtype=minsize \
		--default-library=static --wrap-mode=nofallback &&
	ninja -C _vb $J && ninja -C _vb install
}
seccomp()
{
	./configure --prefix="$P" --host=x86_64-linux-musl --disable-shared \
		--enable-static --disable-python &&
	make $J -C src libseccomp.la && make -C src install-libLTLIBRARIES &&
	make -C include install && make install-pkgconfDATA
}
bearssl()
{
	make $J CC=musl-gcc AR=ar LD=musl-gcc CFLAGS="$CFLAGS" lib &&
	cp build/libbearssl.a "$P/lib/" && cp inc/*.h "$P/include/"
}
cjson()
{
	mkdir -p "$P/include/cjson" &&
	musl-gcc $CFLAGS -std=c89 -c cJSON.c -o "$P/cJSON.o" &&
	ar rcs "$P/lib/libcjson.a" "$P/cJSON.o" && rm "$P/cJSON.o" &&
	cp cJSON.h "$P/include/cjson/"
}
yaml()
{
	rm -rf _vb && cmake -S . -B _vb -DCMAKE_C_COMPILER=musl-gcc \
		-DCMAKE_INSTALL_PREFIX="$P" -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=MinSizeRel && cmake --build _vb $J &&
	cmake --install _vb
}
sqlite()
{
	# SQLite's own build makes the amalgamation (one sqlite3.c; tclsh runs
	# its generators); we compile that with the options of one embedded
	# store: no extension loading, no deprecated or shared-cache APIs,
	# double-quoted strings are identifiers only, foreign keys on.
	./configure --host=x86_64-linux-musl --disable-shared --enable-static \
		--disable-tcl --disable-readline --disable-editline &&
	make $J sqlite3.c &&
	musl-gcc $CFLAGS -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION \
		-DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DQS=0 \
		-DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_DEFAULT_MEMSTATUS=0 \
		-DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_USE_ALLOCA \
		-c sqlite3.c -o "$P/sqlite3.o" &&
	ar rcs "$P/lib/libsqlite3.a" "$P/sqlite3.o" && rm "$P/sqlite3.o" &&
	cp sqlite3.h "$P/include/"
}
protobufc()
{
	./configure --prefix="$P" --host=x86_64-linux-musl --disable-shared \
		--enable-static --disable-protoc && make $J && make install
}

t0=$SECONDS
say "building the static musl sysroot (about 2 minutes, cached afterwards)"
if ! uapi >"$LOG/uapi" 2>&1; then
	tail -25 "$LOG/uapi" >&2; die "kernel headers_install failed (log: $LOG/uapi)"
fi
say "installed kernel uapi headers"
step zlib zlib
step zstd libzstd
step pcre2 pcre2
step libffi libffi
step glib glib2.0
step slirp libslirp
step seccomp libseccomp
step bearssl bearssl
step cjson cjson
step yaml libyaml
step protobufc protobuf-c
step sqlite sqlite3

# Record what went in, for `voidbox version` and the release manifest.
awk '$1=="src" { print $2, $3 }' "$VB_LOCK" >"$P/VERSIONS"
# Drop what the link never needs (binaries, docs, gio/gobject archives).
rm -rf "$P/bin" "$P/share" "$P/libexec" "$P/lib/libgio-2.0.a" \
	"$P/lib/libgobject-2.0.a" "$P/lib/libgthread-2.0.a" "$P/lib/libgmodule-2.0.a"
touch "$P/.vb-done"
rm -rf "$final"
atomic_install "$P" "$final"
ln -sfn "$final" "$out"
say "sysroot ready in $((SECONDS - t0)) s: $final"
