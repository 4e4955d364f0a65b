/* http.c: the small HTTP/1.1 subset the gateway needs, over hostile bytes.
 *
 * The guest side of the gateway is claude-code, but it runs next to
 * model-written code that can connect to the same relay, so requests are
 * parsed as untrusted: a bounded head, strict request line, header count
 * and size caps, Content-Length or chunked bodies with a size cap. The
 * upstream side is trusted more (it holds the key) but not blindly: its
 * response head is bounded too, and its body is streamed through
 * untouched while a side parser follows the chunked framing and the SSE
 * events to count tokens.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "http.h"

/* Find the end of the head ("\r\n\r\n"); returns its length or 0. */
int sock_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

size_t http_head_len(const char *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' &&
		    p[i - 3] == '\r')
			return i + 1;
	return 0;
}

static int token_char(int c)
{
	return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Split the head in place into the first line and header pairs. */
static int split_head(char *p, size_t n, struct http_head *h)
{
	char *end = p + n, *line = p;
	unsigned k = 0;

	h->nhdr = 0;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl || nl == line || nl[-1] != '\r')
			return -1;
		nl[-1] = '\0';
		if (k++ == 0) {
			h->first = line;
		} else if (*line) {
			if (h->nhdr == HTTP_MAX_HEADERS)
				return -1;
			char *colon = strchr(line, ':');
			if (!colon || colon == line)
				return -1;
			for (char *c = line; c < colon; c++)
				if (!token_char((unsigned char)*c))
					return -1;
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			char *ve = v + strlen(v);
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				*--ve = '\0';
			for (char *c = v; *c; c++)
				if ((unsigned char)*c < 32 && *c != '\t')
					return -1;
			h->name[h->nhdr] = line;
			h->value[h->nhdr++] = v;
		}
		line = nl + 1;
	}
	return h->first ? 0 : -1;
}

const char *http_header(const struct http_head *h, const char *name)
{
	for (unsigned i = 0; i < h->nhdr; i++)
		if (!strcasecmp(h->name[i], name))
			return h->value[i];
	return NULL;
}

/* Body framing from the headers: chunked or content_length (at most
 * max); -1 bad. */
static int body_framing(struct http_head *h, uint64_t max)
{
	const char *te = http_header(h, "transfer-encoding");
	const char *cl = http_header(h, "content-length");

	h->chunked = false;
	h->content_length = -1;
	if (te) {
		if (strcasecmp(te, "chunked") || cl)
			return -1;	/* smuggling shapes: refuse */
		h->chunked = true;
		return 0;
	}
	if (cl) {
		char *e;
		errno = 0;
		unsigned long long v = strtoull(cl, &e, 10);
		if (!isdigit((unsigned char)*cl) || *e || errno)
			return -1;
		if (v > max)
			return -1;
		h->content_length = (long long)v;
	}
	return 0;
}

int http_parse_request(char *p, size_t n, struct http_head *h)
{
	*h = (struct http_head){ 0 };
	if (split_head(p, n, h) < 0)
		return -1;
	char *sp1 = strchr(h->first, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
		return -1;
	*sp1 = *sp2 = '\0';
	h->method = h->first;
	h->target = sp1 + 1;
	h->version = sp2 + 1;
	for (const char *c = h->method; *c; c++)
		if (!isupper((unsigned char)*c))
			return -1;
	if (h->target[0] != '/' || strncmp(h->version, "HTTP/1.", 7))
		return -1;
	/* Only visible ASCII in the target: a bare CR, VT, DEL or a byte
	 * >= 0x80 would be forwarded into the upstream's request line,
	 * where lenient servers and proxies split or reinterpret it. */
	for (const char *c = h->target; *c; c++)
		if ((unsigned char)*c <= 32 || (unsigned char)*c >= 127)
			return -1;
	return body_framing(h, HTTP_MAX_BODY);
}

int http_parse_response(char *p, size_t n, struct http_head *h)
{
	return http_parse_response_max(p, n, h, HTTP_MAX_BODY);
}

int http_parse_response_max(char *p, size_t n, struct http_head *h,
			    uint64_t max_body)
{
	*h = (struct http_head){ 0 };
	if (split_head(p, n, h) < 0)
		return -1;
	if (strncmp(h->first, "HTTP/1.", 7) || strlen(h->first) < 12 ||
	    h->first[8] != ' ')
		return -1;
	h->status = atoi(h->first + 9);
	if (h->status < 100 || h->status > 599)
		return -1;
	if (body_framing(h, max_body) < 0)
		return -1;
	const char *ct = http_header(h, "content-type");
	h->sse = ct && !strncasecmp(ct, "text/event-stream", 17);
	return 0;
}

/* ---- chunked decoding (a resumable state machine) ---------------------- */

/* Feed raw chunked bytes; decoded data goes to out (may be NULL to only
 * follow framing). Returns 0, 1 when the last chunk was seen, -1 bad. */
int chunked_feed(struct chunked *c, const char *p, size_t n,
		 void (*out)(void *ctx, const char *p, size_t n), void *ctx)
{
	for (size_t i = 0; i < n;) {
		char ch = p[i];
		switch (c->state) {
		case CH_SIZE:
			if (isxdigit((unsigned char)ch)) {
				if (c->left > (HTTP_MAX_BODY >> 4))
					return -1;
				c->left = c->left * 16 +
					  (uint64_t)(isdigit((unsigned char)ch)
						     ? ch - '0'
						     : (tolower(ch) - 'a' + 10));
				c->digits++;
			} else if (ch == ';') {
				c->state = CH_EXT;
			} else if (ch == '\r' && c->digits) {
				c->state = CH_SIZE_LF;
			} else {
				return -1;
			}
			i++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			i++;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			c->digits = 0;
			break;
		case CH_DATA: {
			size_t take = n - i < c->left ? n - i : (size_t)c->left;
			if (out)
				out(ctx, p + i, take);
			c->total += take;
			c->left -= take;
			i += take;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -1;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER:
			/* Trailers are not used by anyone we talk to: accept
			 * only the empty one. */
			c->state = ch == '\r' ? CH_TRAILER_LF : CH_BAD;
			if (c->state == CH_BAD)
				return -1;
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_DONE;
			return 1;
		case CH_DONE:
			return 1;
		case CH_BAD:
			return -1;
		}
	}
	return c->state == CH_DONE ? 1 : 0;
}

/* ---- token accounting from Messages API responses ----------------------- */

static uint64_t num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) && v->valuedouble > 0 &&
			       v->valuedouble < 1e12
		       ? (uint64_t)v->valuedouble
		       : 0;
}

/* Usage from a message object (JSON reply or message_start) or a
 * message_delta event. Output tokens in message_delta are cumulative for
 * the message, so the last one wins. */
static void take_usage(struct usage_scan *u, const cJSON *usage, bool delta)
{
	if (!cJSON_IsObject(usage))
		return;
	if (!delta || cJSON_GetObjectItemCaseSensitive(usage,
						       "input_tokens")) {
		u->input = num(usage, "input_tokens");
		u->cache_creation = num(usage, "cache_creation_input_tokens");
		u->cache_read = num(usage, "cache_read_input_tokens");
	}
	u->output = num(usage, "output_tokens");
	u->seen = true;
}

static void scan_json(struct usage_scan *u, const char *p, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(p, n);
	if (!j)
		return;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
	const char *t = cJSON_IsString(type) ? type->valuestring : "";
	if (!strcmp(t, "message")) {
		take_usage(u, cJSON_GetObjectItemCaseSensitive(j, "usage"),
			   false);
		u->final = u->seen;	/* a whole reply: nothing follows */
	} else if (!strcmp(t, "message_start")) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
		take_usage(u, cJSON_GetObjectItemCaseSensitive(m, "usage"),
			   false);
	} else if (!strcmp(t, "message_delta")) {
		take_usage(u, cJSON_GetObjectItemCaseSensitive(j, "usage"),
			   true);
		u->final = u->seen;	/* the stream's closing usage */
	} else if (!strcmp(t, "error")) {
		u->stream_error = true;
	}
	cJSON_Delete(j);
}

/* Decoded body bytes: SSE is scanned line by line (only "data:" lines
 * that may carry usage are parsed); a JSON body is collected (bounded)
 * and parsed at the end. Lines over the cap are skipped, not buffered. */
void usage_feed(void *ctx, const char *p, size_t n)
{
	struct usage_scan *u = ctx;

	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (u->sse && ch == '\n') {
			if (!u->overflow && u->len > 5 &&
			    !strncmp(u->line, "data:", 5) &&
			    (strstr(u->line, "\"message_") ||
			     strstr(u->line, "\"error\"")))
				scan_json(u, u->line + 5, u->len - 5);
			u->len = 0;
			u->overflow = false;
			continue;
		}
		if (u->len + 1 >= USAGE_LINE_MAX) {
			u->overflow = true;
			continue;
		}
		u->line[u->len++] = ch;
		u->line[u->len] = '\0';
	}
}

void usage_finish(struct usage_scan *u)
{
	if (!u->sse && !u->overflow && u->len)
		scan_json(u, u->line, u->len);
}
