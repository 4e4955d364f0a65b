# tests/lib.sh: helpers for shell tests (sourced).
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
VOIDBOX=${VOIDBOX:-$BUILD/voidbox}

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skip: $*"; exit 77; }

# vm_skip_unless_kvm: skip (exit 77) without a usable /dev/kvm; the runner
# turns the skip into a failure under VOIDBOX_REQUIRE_VM=1.
vm_skip_unless_kvm()
{
	[ -c /dev/kvm ] || skip "no /dev/kvm on this host"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no permission to open /dev/kvm"
}
