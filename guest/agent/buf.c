/* buf.c: a growable byte queue for connection and stdin buffering.
 *
 * Data lives in p[off .. off + len). Consuming only advances off; the
 * space in front is reclaimed by one memmove when an append would not fit
 * behind the data, so a queue that is drained about as fast as it fills
 * never grows past twice its high-water mark. The callers bound len (see
 * CONN_OUT_MAX and EXEC_STDIN_MAX); this file only manages memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* An empty queue larger than this gives its memory back: after a 20 MB
 * transfer a connection should not keep holding megabytes while idle. */
#define BUF_KEEP (256u << 10)
#define BUF_MIN  4096u

int buf_reserve(struct buf *b, size_t n)
{
	if (buf_room(b) >= n)
		return 0;
	/* Reuse the consumed front before asking for more memory. */
	if (b->off && b->cap - b->len >= n) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		return 0;
	}
	size_t cap = b->cap ? b->cap : BUF_MIN;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->p + b->off, b->len);
	free(b->p);
	b->p = p;
	b->off = 0;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	int err = buf_reserve(b, n);

	if (err < 0)
		return err;
	if (n)
		memcpy(buf_end(b), data, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	b->off += n;
	b->len -= n;
	if (b->len)
		return;
	b->off = 0;
	if (b->cap > BUF_KEEP)
		buf_free(b);
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->off = b->len = b->cap = 0;
}
