/* keyscan.c: the last line of defence — upstream bytes that contain the
 * real credential never reach the guest.
 *
 * The surface allow-list (surface.c) keeps the guest from asking for an
 * echo; this catches what slips past it anyway (a proxy that reflects
 * headers in an error page, a debug build upstream). The decoded response
 * body is run through a Knuth-Morris-Pratt matcher for the credential,
 * and bytes are released to the guest only once they can no longer be
 * the start of a match: the matcher's state is exactly the length of the
 * longest key prefix ending the stream, so everything before that is
 * safe to pass and only those few bytes are held back. A key split over
 * any number of reads, chunks or TLS records is therefore still caught
 * before its first byte leaves. The table is built once per gateway
 * (keypat_init), each reply's state lives on the relay's stack.
 *
 * Scope: literal occurrences. A server that transforms the key (base64,
 * JSON escapes of ordinary characters) defeats any scanner; the surface
 * allow-list is the real control.
 */
#include <string.h>

#include "gateway.h"

void keypat_init(struct keypat *kp, const char *key)
{
	kp->key = NULL;
	kp->klen = strlen(key);
	if (kp->klen < KEYSCAN_MIN || kp->klen >= KEYSCAN_MAX) {
		kp->klen = 0;
		return;		/* nothing secret enough to look for */
	}
	kp->key = key;
	/* fail[i]: length of the longest proper prefix of key[0..i] that is
	 * also its suffix. */
	kp->fail[0] = 0;
	for (size_t i = 1, l = 0; i < kp->klen; i++) {
		while (l && key[i] != key[l])
			l = kp->fail[l - 1];
		if (key[i] == key[l])
			l++;
		kp->fail[i] = l;
	}
}

void keyscan_start(struct keyscan *k, const struct keypat *pat)
{
	k->pat = pat;
	k->state = k->nhold = 0;
	k->hit = false;
}

int keyscan_feed(struct keyscan *k, const char *p, size_t n,
		 int (*out)(void *ctx, const char *p, size_t n), void *ctx)
{
	const struct keypat *kp = k->pat;

	if (!kp->key)
		return n ? out(ctx, p, n) : 0;
	if (k->hit)
		return -1;
	size_t s = k->state;
	for (size_t i = 0; i < n; i++) {
		while (s && p[i] != kp->key[s])
			s = kp->fail[s - 1];
		if (p[i] == kp->key[s])
			s++;
		if (s == kp->klen) {
			k->hit = true;
			return -1;
		}
	}
	/* Stream so far = released + hold + p; keep its last s bytes. */
	size_t total = k->nhold + n, release = total - s;
	if (release <= k->nhold) {
		if (release && out(ctx, k->hold, release) < 0)
			return -2;
		memmove(k->hold, k->hold + release, k->nhold - release);
		memcpy(k->hold + k->nhold - release, p, n);
	} else {
		if (k->nhold && out(ctx, k->hold, k->nhold) < 0)
			return -2;
		size_t from_p = release - k->nhold;
		if (from_p && out(ctx, p, from_p) < 0)
			return -2;
		memcpy(k->hold, p + from_p, n - from_p);
	}
	k->nhold = s;
	k->state = s;
	return 0;
}

int keyscan_flush(struct keyscan *k,
		  int (*out)(void *ctx, const char *p, size_t n), void *ctx)
{
	if (!k->pat->key || k->hit || !k->nhold)
		return k->hit ? -1 : 0;
	int r = out(ctx, k->hold, k->nhold) < 0 ? -2 : 0;
	k->nhold = k->state = 0;
	return r;
}
