/* datadir.c: where voidbox keeps what outlives a run (volumes, images):
 * $VOIDBOX_DATA_DIR, else $XDG_DATA_HOME/voidbox, else
 * ~/.local/share/voidbox. Relative settings are ignored, as the XDG spec
 * says. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int data_dir(const char *sub, char *out, size_t len)
{
	const char *d = getenv("VOIDBOX_DATA_DIR"), *x = getenv("XDG_DATA_HOME");
	const char *h = getenv("HOME");
	int n;

	if (d && d[0] == '/')
		n = snprintf(out, len, "%s/%s", d, sub);
	else if (x && x[0] == '/')
		n = snprintf(out, len, "%s/voidbox/%s", x, sub);
	else if (h && h[0] == '/')
		n = snprintf(out, len, "%s/.local/share/voidbox/%s", h, sub);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
