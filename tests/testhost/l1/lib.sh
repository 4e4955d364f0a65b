# shellcheck shell=dash
# tests/testhost/l1/lib.sh: helpers shared by the scripts that run inside L1
# (sourced by /init, the runner and the th-* helpers; busybox ash, no bash).

# ms: milliseconds since L1 boot. busybox date has no %N, and /proc/uptime
# (10 ms resolution) is monotonic, which is what durations need anyway.
ms()
{
	local up s cs
	read -r up _ </proc/uptime
	s=${up%.*}
	cs=${up#*.}
	cs=${cs#0}	# "05" would be read as octal
	echo $((s * 1000 + ${cs:-0} * 10))
}

# say MSG: progress line on the console, not part of any test's output.
say() { echo "TESTHOST-INFO $*"; }
