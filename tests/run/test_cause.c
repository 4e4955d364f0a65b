/* test_cause.c: failures are classified by value, never by their text.
 *
 * The agent client over a socketpair (no VM): a timeout, a peer that
 * closes, a malformed frame each leave their -errno in c.cause. Then the
 * stage's rules (stage_fail, stage_vm_ended) turn causes into a status
 * and an exit code (report_exit_code), including with messages made to
 * look like another cause, which must change nothing.
 *
 * Linked against libvoidbox.a; no KVM. Prints PASS:/FAIL: lines, exits 1
 * if anything failed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../host/agent/agent.h"
#include "../../host/api/api.h"
#include "../../host/run/run.h"

static int failures;

static void check(int ok, const char *name, const char *why)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", name,
	       ok || !why ? "" : ": ", ok || !why ? "" : why);
	failures += !ok;
}

/* A connection to a fake agent: *peer is the agent's end. */
static int pair(struct agent_conn *c, int *peer)
{
	int sv[2];

	*c = (struct agent_conn){ .fd = -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	c->fd = sv[0];
	*peer = sv[1];
	return 0;
}

static void test_agent_causes(void)
{
	struct agent_conn c;
	struct agent_hdr h;
	int peer;
	char why[300];

	if (pair(&c, &peer) < 0) {
		check(0, "socketpair", strerror(errno));
		return;
	}
	/* Nothing arrives: the timeout is -ETIMEDOUT, whatever the text. */
	int r = agent_recv(&c, &h, 50);
	snprintf(why, sizeof(why), "r %d cause %d err '%s'", r, c.cause,
		 c.err);
	check(r == -1 && c.cause == -ETIMEDOUT, "agent-timeout-cause", why);

	/* Half a header, then the agent goes away. */
	struct agent_hdr half = { .magic = AGENT_MAGIC, .type = 1, .len = 8 };
	(void)!write(peer, &half, sizeof(half));
	(void)!write(peer, "abc", 3);
	close(peer);
	r = agent_recv(&c, &h, 1000);
	snprintf(why, sizeof(why), "r %d cause %d err '%s'", r, c.cause,
		 c.err);
	check(r == -1 && c.cause == -ECONNRESET, "agent-closed-mid-frame",
	      why);
	agent_close(&c);

	/* A frame no agent sends. */
	if (pair(&c, &peer) < 0)
		return;
	struct agent_hdr bad = { .magic = 0x12345678, .type = 1 };
	(void)!write(peer, &bad, sizeof(bad));
	r = agent_recv(&c, &h, 1000);
	snprintf(why, sizeof(why), "r %d cause %d err '%s'", r, c.cause,
		 c.err);
	check(r == -1 && c.cause == -EPROTO, "agent-malformed-frame", why);
	close(peer);
	agent_close(&c);

	/* The agent goes away during an exec: the run's "lost the agent"
	 * case, told by agent_exec's -1 and the connection's cause. */
	if (pair(&c, &peer) < 0)
		return;
	const char *argv[] = { "true", NULL };
	struct agent_exec_req rq = { .argv = argv, .stdin_fd = -1,
				     .stdout_fd = -1, .stderr_fd = -1 };
	struct agent_exec_res res;
	shutdown(peer, SHUT_WR);	/* the agent reads, then is gone */
	r = agent_exec(&c, &rq, &res);
	snprintf(why, sizeof(why), "r %d cause %d err '%s'", r, c.cause,
		 c.err);
	check(r == -1 && c.cause == -ECONNRESET, "agent-lost-during-exec",
	      why);
	close(peer);
	agent_close(&c);
}

struct case_ {
	const char *name;
	enum stage_cause first;		/* CAUSE_NONE: none */
	const char *msg;		/* its message */
	bool died;			/* the VMM died */
	enum stage_status status;
	int code;
	bool appended;			/* "; the VM ..." added */
};

static void test_stage_causes(void)
{
	static const struct case_ cases[] = {
		{ "ok", CAUSE_NONE, NULL, false, STAGE_OK, VB_OK, false },
		{ "vmm-died-under-a-good-stage", CAUSE_NONE, NULL, true,
		  STAGE_VM, VB_VMM_DIED, false },
		{ "timeout", CAUSE_TIMEOUT, "agent took its time", false,
		  STAGE_TIMEOUT, VB_TIMEOUT, false },
		/* The VMM dying after a timeout does not hide the timeout. */
		{ "timeout-then-died", CAUSE_TIMEOUT, "x", true,
		  STAGE_TIMEOUT, VB_TIMEOUT, false },
		{ "agent-lost", CAUSE_AGENT_LOST, "connection gone", false,
		  STAGE_FAILED, VB_FAILED, true },
		{ "agent-lost-vmm-died", CAUSE_AGENT_LOST, "connection gone",
		  true, STAGE_VM, VB_VMM_DIED, true },
		{ "vm-start", CAUSE_VM_START, "no boot", false, STAGE_VM,
		  VB_VM_ERROR, false },
		/* A VM that died before it was up says how it died. */
		{ "vm-start-vmm-died", CAUSE_VM_START, "no boot", true,
		  STAGE_VM, VB_VMM_DIED, true },
		{ "no-kvm", CAUSE_NO_KVM, "/dev/kvm: ENOENT", false, STAGE_VM,
		  VB_VM_ERROR, false },
		{ "config", CAUSE_CONFIG, "bad", false, STAGE_CONFIG,
		  VB_CONFIG, false },
		/* Text that reads like another cause changes nothing. */
		{ "text-says-lost-but-agent-failed", CAUSE_AGENT,
		  "lost the agent connection: timed out", true, STAGE_FAILED,
		  VB_FAILED, false },
		{ "text-says-timed-out-but-output", CAUSE_OUTPUT,
		  "timed out after 5 s", false, STAGE_FAILED, VB_FAILED,
		  false },
		{ "key-leak", CAUSE_KEY_LEAK, "security", false, STAGE_FAILED,
		  VB_FAILED, false },
	};
	char why[700];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *k = &cases[i];
		struct stage_result r = { .status = STAGE_OK };
		if (k->first != CAUSE_NONE)
			stage_fail(&r, k->first, "%s", k->msg);
		stage_vm_ended(&r, k->died, "was killed by signal 9");
		bool app = strstr(r.error, "; the VM was killed") != NULL;
		snprintf(why, sizeof(why), "status %d code %d vmm_died %d "
			 "error '%s'", (int)r.status, report_exit_code(&r),
			 r.vmm_died, r.error);
		check(r.status == k->status && report_exit_code(&r) == k->code
		      && app == k->appended && r.vmm_died ==
		      (k->code == VB_VMM_DIED), k->name, why);
	}

	struct stage_result r = { .status = STAGE_OK };
	stage_fail(&r, CAUSE_TIMEOUT, "first");
	stage_fail(&r, CAUSE_AGENT, "second");
	check(r.cause == CAUSE_TIMEOUT && !strcmp(r.error, "first") &&
	      r.status == STAGE_TIMEOUT, "first-cause-wins", r.error);
}

/* The VM goes away while the stage provisions or collects: whatever step
 * was running, the stage says it lost the agent (so a dead VMM is
 * reported as one, exit 123), not that provisioning or the output
 * failed. */
static void test_lost_in_steps(void)
{
	static const char input[] = "{\"from\":\"a\"}";
	struct box_cfg bc = { .name = "victim" };
	struct stage_opts o = { .input = input, .input_len = sizeof(input) - 1 };
	struct agent_conn c;
	int peer;
	bool mcp = false;
	char why[700];

	static const char *const names[] = { "lost-while-provisioning",
					     "lost-while-putting-input",
					     "lost-while-collecting" };
	bc.skills[0] = (struct skill_cfg){ .type = SKILL_INLINE, .name = "s",
					   .content = (char *)"a skill" };
	bc.nskills = 1;
	for (int step = 0; step < 3; step++) {
		struct stage_result r = { .status = STAGE_OK };
		if (pair(&c, &peer) < 0)
			return;
		close(peer);
		if (step == 0) {
			provision_run(&c, &bc, &mcp, &r);
		} else if (step == 1) {
			provision_input(&c, &o, &r);
		} else {
			snprintf(bc.output_file, sizeof(bc.output_file),
				 "out.json");
			provision_collect(&c, &bc, &r);
		}
		stage_vm_ended(&r, true, "was killed by signal 9");
		snprintf(why, sizeof(why), "cause %d code %d error '%s'",
			 (int)r.cause, report_exit_code(&r), r.error);
		check(report_exit_code(&r) == VB_VMM_DIED &&
		      strstr(r.error, "killed by signal 9"),
		      names[step], why);
		agent_close(&c);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_agent_causes();
	test_lost_in_steps();
	test_stage_causes();
	return failures ? 1 : 0;
}
