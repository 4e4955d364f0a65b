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

# procs: every process as `ps -o pid,ppid,pgid,stat,etime,args` would show
# it, which busybox's ps cannot (no etime): read from /proc, ELAPSED in
# seconds (USER_HZ 100, as on every x86 kernel); kernel threads left out.
procs()
{
	local up d st args
	read -r up _ </proc/uptime
	echo "  PID  PPID  PGID STAT ELAPSED ARGS"
	for d in /proc/[0-9]*; do
		st=$(cat "$d/stat" 2>/dev/null) || continue
		args=$(tr '\0\n' '  ' <"$d/cmdline" 2>/dev/null)
		printf '%s\n' "$st" | awk -v up="$up" -v args="$args" '{
			i = index($0, "("); j = length($0)
			while (j > i && substr($0, j, 1) != ")") j--
			comm = substr($0, i + 1, j - i - 1)
			n = split(substr($0, j + 2), f, " ")
			if (n < 20 || $1 == 2 || f[2] == 2) next
			if (args == "") args = "[" comm "]"
			printf "%5d %5d %5d %-4s %7d %s\n", $1, f[2], f[3], f[1],
				up - f[20] / 100, args
		}'
	done | sort -n
}

# diagnose S: what a test that has run S seconds is doing (for a hang):
# every process and the kernel's last words, on stdout.
diagnose()
{
	echo "testhost: still running after $1 s (half the timeout); processes:"
	procs
	echo "testhost: last kernel messages:"
	dmesg | tail -20 | sed 's/^/[dmesg] /'
}
