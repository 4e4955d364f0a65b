#!/usr/bin/env bash
# The voidbox executable is fully static: no interpreter, no DT_NEEDED.
. "$(dirname "$0")/../lib.sh"
[ -x "$VOIDBOX" ] || fail "$VOIDBOX not built"
file -L "$VOIDBOX" | grep -q 'statically linked' || fail "file(1) does not say statically linked: $(file -L "$VOIDBOX")"
! readelf -lW "$VOIDBOX" | grep -q INTERP || fail "PT_INTERP present"
! readelf -dW "$VOIDBOX" 2>/dev/null | grep -q NEEDED || fail "DT_NEEDED present"
echo "ok: static, $(stat -c %s "$VOIDBOX") bytes"
