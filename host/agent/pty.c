/* pty.c: a terminal session — a guest command on a pseudo-terminal joined
 * to the user's (`voidbox shell`, `exec --tty`, `attach`, an interactive
 * claude-code stage). The guest agent allocates the terminal
 * (AGENT_EXEC_TTY); here our side goes raw for the session's length and
 * is put back whatever happens (term.c), and each SIGWINCH sends our new
 * size. Keys go through as bytes: ^C, ^Z and ^D mean what the guest's
 * terminal makes of them.
 */
#include <unistd.h>

#include "agent.h"
#include "../util/util.h"

int agent_exec_tty(struct agent_conn *c, uint32_t attach_id,
		   struct agent_exec_req *r, struct agent_exec_res *res)
{
	bool term = isatty(STDIN_FILENO);

	r->tty = true;
	r->term_fd = term ? STDIN_FILENO : STDOUT_FILENO;
	r->winch_fd = term ? term_winch_fd() : -1;
	r->stdin_fd = STDIN_FILENO;
	r->stdout_fd = STDOUT_FILENO;
	r->stderr_fd = STDERR_FILENO;
	if (term && term_raw(STDIN_FILENO) < 0)
		term = false;	/* not ours to change: carry on cooked */
	int rc = attach_id ? agent_exec_attach(c, attach_id, r, res)
			   : agent_exec(c, r, res);
	term_restore();
	return rc;
}
