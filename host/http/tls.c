/* tls.c: TLS client over a connected socket, on BearSSL.
 *
 * Primer. BearSSL does no I/O: its engine exposes four buffers, named by
 * the state bits of br_ssl_engine_current_state() — records to send
 * (SENDREC), room for received records (RECVREC), room for plaintext to
 * encrypt (SENDAPP) and decrypted plaintext (RECVAPP). pump() moves bytes
 * between the socket and the engine until a wanted state bit shows up,
 * waiting with poll() so that the fd may be blocking or not and every
 * wait is bounded: by the caller's handshake deadline, then by the
 * socket's own SO_RCVTIMEO/SO_SNDTIMEO (the gateway sets those).
 *
 * Policy: TLS 1.2 only (RFC 8996 deprecates 1.0 and 1.1; BearSSL has no
 * 1.3) and ECDHE + AEAD suites only, so every session has forward secrecy.
 * Certificates are checked by br_x509_minimal against trust anchors parsed
 * from a PEM bundle. Bundles are parsed once per path and cached for the
 * process lifetime: the validator only reads anchors, so threads share
 * them, and the cache mutex is the only lock here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "http.h"

#define TLS_BUNDLE_MAX (4u << 20)	/* a full Mozilla bundle is ~220 KiB */
#define TLS_CLOSE_MS 200	/* close_notify is best effort: never hang */
#define TLS_EPOCH_DAYS 719528u	/* 1970-01-01 in days since 0000-01-01 */

struct tls_conn {
	br_ssl_client_context cc;
	br_x509_minimal_context xc;
	int fd;
	/* TLS record framing (RFC 5246 §6.2.1) followed over the bytes fed
	 * to the engine, so a TCP EOF between records (a clean end for
	 * HTTP/1.0-style servers that skip close_notify) is told apart
	 * from one inside a record (truncation). */
	unsigned hdr_got;	/* bytes of the 5-byte header seen */
	unsigned char len_hi;	/* its length field's first byte */
	size_t rec_left;	/* body bytes still to come */
	bool eof;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

struct anchors {
	char *path;		/* NULL: the default (embedded) bundle */
	br_x509_trust_anchor *ta;
	size_t n, cap;
	struct anchors *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct anchors *cache;	/* never freed, see the primer */
static const void *default_pem;
static size_t default_len;

/* ---- trust anchors ------------------------------------------------------ */

struct growbuf {
	unsigned char *p;
	size_t len, cap;
	bool oom;
};

static void growbuf_append(void *ctx, const void *data, size_t len)
{
	struct growbuf *b = ctx;
	unsigned char *p;

	if (!b->oom && b->len + len > b->cap) {
		if ((p = realloc(b->p, (b->len + len) * 2))) {
			b->p = p;
			b->cap = (b->len + len) * 2;
		} else {
			b->oom = true;
		}
	}
	if (!b->oom) {
		memcpy(b->p + b->len, data, len);
		b->len += len;
	}
}

static void anchors_free(struct anchors *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ta[i].dn.data);	/* holds the key too */
	free(a->ta);
	free(a->path);
	free(a);
}

/* Decode one DER certificate into an anchor whose DN and key bytes share
 * one allocation. Certificates BearSSL cannot use (DSA or Ed25519 keys,
 * odd encodings) are skipped, as other TLS stacks skip them: one exotic
 * root must not take the whole bundle down. 0, or -1 when out of memory. */
static int anchors_add(struct anchors *a, const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	struct growbuf b = { 0 };
	br_x509_pkey pk;

	br_x509_decoder_init(&dc, growbuf_append, &b);
	br_x509_decoder_push(&dc, der, len);
	const br_x509_pkey *dk = br_x509_decoder_get_pkey(&dc);
	if (!dk || br_x509_decoder_last_error(&dc) != 0) {
		free(b.p);
		return b.oom ? -1 : 0;
	}
	size_t dn_len = b.len;
	pk = *dk;	/* points into dc until fixed up below */
	if (pk.key_type == BR_KEYTYPE_RSA) {
		growbuf_append(&b, pk.key.rsa.n, pk.key.rsa.nlen);
		growbuf_append(&b, pk.key.rsa.e, pk.key.rsa.elen);
	} else {	/* the decoder yields RSA or EC keys only */
		growbuf_append(&b, pk.key.ec.q, pk.key.ec.qlen);
	}
	if (!b.oom && a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		br_x509_trust_anchor *v = realloc(a->ta, cap * sizeof(*v));
		if (v) {
			a->ta = v;
			a->cap = cap;
		}
	}
	if (b.oom || a->n == a->cap) {
		free(b.p);
		return -1;
	}
	if (pk.key_type == BR_KEYTYPE_RSA) {
		pk.key.rsa.n = b.p + dn_len;
		pk.key.rsa.e = pk.key.rsa.n + pk.key.rsa.nlen;
	} else {
		pk.key.ec.q = b.p + dn_len;
	}
	/* Without BR_X509_TA_CA BearSSL trusts the certificate only as the
	 * server's own (direct trust), never as an issuer. */
	a->ta[a->n++] = (br_x509_trust_anchor){
		.dn = { .data = b.p, .len = dn_len },
		.flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0,
		.pkey = pk,
	};
	return 0;
}

/* Parse every CERTIFICATE object of a PEM bundle into a; other objects
 * (keys, CRLs, "TRUSTED CERTIFICATE" with OpenSSL's trailing aux data)
 * are skipped. Returns 0, or -ENOMEM / -EINVAL with err set. */
static int anchors_parse(struct anchors *a, const unsigned char *pem,
			 size_t len, const char *what, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct growbuf der = { 0 };
	bool in_obj = false, is_cert = false, tail_nl = true;
	int ret = -EINVAL;

	br_pem_decoder_init(&pc);
	for (;;) {
		/* A last "-----END ...-----" with no newline after it only
		 * completes when the decoder sees an end of line. */
		if (len == 0 && tail_nl) {
			tail_nl = false;
			pem = (const unsigned char *)"\n";
			len = 1;
		} else if (len == 0) {
			break;
		}
		size_t k = br_pem_decoder_push(&pc, pem, len);
		pem += k;
		len -= k;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ: {
			const char *name = br_pem_decoder_name(&pc);
			is_cert = !strcmp(name, "CERTIFICATE") ||
				  !strcmp(name, "X509 CERTIFICATE");
			in_obj = true;
			der.len = 0;
			br_pem_decoder_setdest(&pc, is_cert ? growbuf_append :
					       NULL, &der);
			break;
		}
		case BR_PEM_END_OBJ:
			if (is_cert && (der.oom ||
					anchors_add(a, der.p, der.len) < 0)) {
				snprintf(err, errlen, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
			in_obj = is_cert = false;
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "malformed PEM in %s", what);
			goto out;
		}
	}
	if (in_obj)
		snprintf(err, errlen, "truncated PEM object in %s", what);
	else if (a->n == 0)
		snprintf(err, errlen, "no trust anchors in %s", what);
	else
		ret = 0;
out:
	free(der.p);
	return ret;
}

/* Read at most TLS_BUNDLE_MAX + 1 bytes: one more tells "too large". */
static unsigned char *read_bundle(const char *path, size_t *len, char *err,
				  size_t errlen)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *buf = f ? malloc(TLS_BUNDLE_MAX + 1) : NULL;

	if (buf) {
		*len = fread(buf, 1, TLS_BUNDLE_MAX + 1, f);
		if (ferror(f)) {
			free(buf);
			buf = NULL;
		}
	}
	if (!buf)
		snprintf(err, errlen, "cannot read CA bundle %s: %s", path,
			 strerror(errno));
	if (f)
		fclose(f);
	return buf;
}

/* The cached anchors for ca_path (see tls_client for the NULL case), or
 * NULL with err set and errno ENOMEM, or ENOKEY for a bundle that is
 * missing, unreadable, too large or holds no anchors. The lock is held while parsing, so concurrent first
 * users of a path wait for one parse instead of doing several. */
static const struct anchors *anchors_get(const char *ca_path, char *err,
					 size_t errlen)
{
	static const char *const system_paths[] = {
		"/etc/ssl/certs/ca-certificates.crt",	/* Debian, Alpine */
		"/etc/pki/tls/certs/ca-bundle.crt",	/* Fedora, RHEL */
	};
	const char *path = ca_path, *what = "the embedded CA bundle";
	int cause = ENOKEY, r;
	const unsigned char *pem;
	unsigned char *file = NULL;
	struct anchors *a;
	size_t len;

	/* A set $SSL_CERT_FILE is used or fails, never skipped. */
	if (!path && (path = getenv("SSL_CERT_FILE")) && !*path)
		path = NULL;
	for (size_t i = 0; !path && i < 2; i++)
		if (access(system_paths[i], R_OK) == 0)
			path = system_paths[i];

	pthread_mutex_lock(&cache_lock);
	for (a = cache; a; a = a->next)
		if (path ? a->path && !strcmp(a->path, path) : !a->path)
			goto out;
	pem = default_pem;
	len = default_len;
	if (path && !(pem = file = read_bundle(path, &len, err, errlen)))
		goto out;
	if (!pem) {
		snprintf(err, errlen, "no trust anchors: no CA bundle found "
			 "(set SSL_CERT_FILE)");
		goto out;
	}
	if (path)
		what = path;
	if (len > TLS_BUNDLE_MAX) {
		snprintf(err, errlen, "%s%s is larger than %u MiB",
			 path ? "CA bundle " : "", what, TLS_BUNDLE_MAX >> 20);
		goto out;
	}
	if (!(a = calloc(1, sizeof(*a))) ||
	    (path && !(a->path = strdup(path)))) {
		snprintf(err, errlen, "out of memory");
		cause = ENOMEM;
		goto err_free;
	}
	if ((r = anchors_parse(a, pem, len, what, err, errlen)) < 0) {
		cause = -r;
		goto err_free;
	}
	a->next = cache;
	cache = a;
	goto out;

err_free:
	if (a)
		anchors_free(a);
	a = NULL;
out:
	pthread_mutex_unlock(&cache_lock);
	free(file);
	if (!a)
		errno = cause;
	return a;
}

void tls_set_default_bundle(const void *pem, size_t len)
{
	pthread_mutex_lock(&cache_lock);
	default_pem = pem;
	default_len = len;
	pthread_mutex_unlock(&cache_lock);
}

/* ---- errors ------------------------------------------------------------- */

#define BR_E(code, what) { code, #code, what }
static const struct {
	int code;
	const char *name, *what;
} br_errors[] = {
	BR_E(BR_ERR_X509_NOT_TRUSTED, "issuer is not a trusted CA"),
	BR_E(BR_ERR_X509_BAD_SERVER_NAME, "server name not in certificate"),
	BR_E(BR_ERR_X509_EXPIRED, "certificate expired or not yet valid"),
	BR_E(BR_ERR_X509_TIME_UNKNOWN, "current time unknown"),
	BR_E(BR_ERR_X509_BAD_SIGNATURE, "bad certificate signature"),
	BR_E(BR_ERR_X509_NOT_CA, "issuer is not a CA"),
	BR_E(BR_ERR_X509_FORBIDDEN_KEY_USAGE, "key usage forbids TLS"),
	BR_E(BR_ERR_X509_WEAK_PUBLIC_KEY, "public key too small"),
	BR_E(BR_ERR_X509_EMPTY_CHAIN, "server sent no certificate"),
	BR_E(BR_ERR_X509_DN_MISMATCH, "issuer/subject mismatch in chain"),
	BR_E(BR_ERR_X509_CRITICAL_EXTENSION, "unknown critical extension"),
	BR_E(BR_ERR_X509_UNSUPPORTED, "unsupported certificate feature"),
	BR_E(BR_ERR_X509_WRONG_KEY_TYPE, "unexpected key type"),
	BR_E(BR_ERR_X509_LIMIT_EXCEEDED, "chain too long or too large"),
	BR_E(BR_ERR_BAD_VERSION, "server does not speak TLS 1.2"),
	BR_E(BR_ERR_UNSUPPORTED_VERSION, "server does not speak TLS 1.2"),
	BR_E(BR_ERR_BAD_CIPHER_SUITE, "no common ECDHE+AEAD cipher suite"),
	BR_E(BR_ERR_BAD_SIGNATURE, "bad ServerKeyExchange signature"),
	BR_E(BR_ERR_WRONG_KEY_USAGE, "key usage does not match suite"),
	BR_E(BR_ERR_BAD_MAC, "record MAC check failed"),
	BR_E(BR_ERR_UNEXPECTED, "unexpected message"),
	BR_E(BR_ERR_NO_RANDOM, "no entropy source"),
	BR_E(BR_ERR_TOO_LARGE, "record too large"),
	BR_E(BR_ERR_BAD_PARAM, "bad parameter (server name too long?)"),
};

/* The engine's last error as a message in buf. */
/* The handshake's failure in words; returns its cause: EKEYREJECTED when
 * the server's certificate failed verification, else EPROTO. */
static int describe(const struct tls_conn *t, const char *host, char *buf,
		    size_t len)
{
	int e = br_ssl_engine_last_error(&t->cc.eng);
	const char *what = NULL, *name = NULL, *hint = "";
	struct in6_addr ip;

	for (size_t i = 0; i < sizeof(br_errors) / sizeof(br_errors[0]); i++)
		if (br_errors[i].code == e) {
			what = br_errors[i].what;
			name = br_errors[i].name;
		}
	if (e == BR_ERR_X509_BAD_SERVER_NAME &&
	    (inet_pton(AF_INET, host, &ip) == 1 ||
	     inet_pton(AF_INET6, host, &ip) == 1))
		hint = "; BearSSL matches DNS names only, not IP addresses";
	if (e >= BR_ERR_X509_OK && e < BR_ERR_RECV_FATAL_ALERT && name)
		snprintf(buf, len, "certificate verification failed: %s (%s%s)",
			 what, name, hint);
	else if (e >= BR_ERR_X509_OK && e < BR_ERR_RECV_FATAL_ALERT)
		snprintf(buf, len, "certificate verification failed: "
			 "X.509 error %d", e);
	else if (e >= BR_ERR_SEND_FATAL_ALERT)
		snprintf(buf, len, "handshake failed: we sent fatal alert %d",
			 e - BR_ERR_SEND_FATAL_ALERT);
	else if (e >= BR_ERR_RECV_FATAL_ALERT)	/* RFC 5246 §7.2 codes */
		snprintf(buf, len, "handshake failed: %s sent fatal alert %d%s",
			 host, e - BR_ERR_RECV_FATAL_ALERT,
			 e - BR_ERR_RECV_FATAL_ALERT == 70 ? " (protocol_version:"
			 " it may require TLS 1.3, which BearSSL lacks)" : "");
	else if (name)
		snprintf(buf, len, "handshake failed: %s (%s)", what, name);
	else
		snprintf(buf, len, "handshake failed: BearSSL error %d", e);
	return e >= BR_ERR_X509_OK && e < BR_ERR_RECV_FATAL_ALERT
		? EKEYREJECTED : EPROTO;
}

/* ---- I/O ---------------------------------------------------------------- */

enum { PUMP_ERR = -1, PUMP_EOF = -2, PUMP_CLOSED = -3 };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 when unset. Read on
 * every call, so the caller may change them at any time. */
static int sock_timeout(int fd, int opt)
{
	struct timeval tv;
	socklen_t sl = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &sl) < 0 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	if (tv.tv_sec > INT_MAX / 1000 - 1)
		return INT_MAX;
	return (int)tv.tv_sec * 1000 + (int)(tv.tv_usec + 999) / 1000;
}

/* Wait until fd is ready, for at most idle_ms (-1: no limit) and not past
 * deadline (-1: none). 0, or -1 with errno (ETIMEDOUT on expiry). A
 * POLLERR or POLLHUP counts as ready: the following recv/send reports. */
static int wait_fd(int fd, short events, int64_t deadline, int idle_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = idle_ms;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			if (ms < 0 || left < ms)
				ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	errno = ETIMEDOUT;
	return -1;
}

/* Follow the record framing over n received bytes (see struct tls_conn):
 * a header is type(1) version(2) length(2), then length body bytes. */
static void track_records(struct tls_conn *t, const unsigned char *p,
			  size_t n)
{
	while (n) {
		if (t->rec_left) {
			size_t k = n < t->rec_left ? n : t->rec_left;
			t->rec_left -= k;
			p += k;
			n -= k;
			continue;
		}
		if (t->hdr_got == 3)
			t->len_hi = *p;
		else if (t->hdr_got == 4)
			t->rec_left = (size_t)t->len_hi << 8 | *p;
		t->hdr_got = (t->hdr_got + 1) % 5;
		p++;
		n--;
	}
}

/* Move records between the socket and the engine until the engine state
 * has a bit of want. Returns 0; PUMP_CLOSED when the engine is closed or
 * failed (see br_ssl_engine_last_error); PUMP_EOF on TCP EOF; PUMP_ERR
 * with errno set. The loop mirrors BearSSL's br_sslio_run_until(). */
static int pump(struct tls_conn *t, unsigned want, int64_t deadline,
		int idle_ms)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	bool flushed = false;

	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		unsigned char *buf;
		size_t len;
		ssize_t n;

		if (st & BR_SSL_CLOSED)
			return PUMP_CLOSED;
		/* Pending records go out first, even if want is met. */
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			if (wait_fd(t->fd, POLLOUT, deadline, idle_ms) < 0)
				return PUMP_ERR;
			n = send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				return PUMP_ERR;
			if (n > 0)
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
			continue;
		}
		if (st & want)
			return 0;
		if (st & BR_SSL_RECVREC) {
			if (t->eof)
				return PUMP_EOF;
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			if (wait_fd(t->fd, POLLIN, deadline, idle_ms) < 0)
				return PUMP_ERR;
			n = recv(t->fd, buf, len, MSG_DONTWAIT);
			if (n == 0) {
				t->eof = true;
				return PUMP_EOF;
			}
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				return PUMP_ERR;
			if (n > 0) {
				/* before the ack, which decrypts in place */
				track_records(t, buf, (size_t)n);
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				flushed = false;
			}
			continue;
		}
		/* Plaintext buffered for sending blocks progress: push it
		 * out. Stuck again after that means a protocol deadlock. */
		if (flushed) {
			errno = EPROTO;
			return PUMP_ERR;
		}
		br_ssl_engine_flush(eng, 0);
		flushed = true;
	}
}

/* errno for a pump failure after the handshake. */
static int io_fail(const struct tls_conn *t, int r)
{
	if (r == PUMP_CLOSED)
		errno = br_ssl_engine_last_error(&t->cc.eng) == BR_ERR_OK ?
				EPIPE : EPROTO;
	else if (r == PUMP_EOF)
		errno = EPIPE;
	return -1;
}

/* ---- API ---------------------------------------------------------------- */

struct tls_conn *tls_client(int fd, const char *host, const char *ca_path,
			    unsigned timeout_ms, char *err, size_t errlen)
{
	static const uint16_t suites[] = {
		BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	};
	int64_t deadline = timeout_ms ? now_ms() + timeout_ms : -1;
	const struct anchors *a;
	struct tls_conn *t;
	unsigned char seed[32];
	time_t now = time(NULL);

	if (!host || !*host) {
		/* BearSSL would then skip the name check: refuse. */
		snprintf(err, errlen, "no server name to verify");
		errno = EINVAL;
		return NULL;
	}
	if (!(a = anchors_get(ca_path, err, errlen)))
		return NULL;			/* errno set */
	if (!(t = calloc(1, sizeof(*t)))) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	t->fd = fd;
	br_ssl_client_init_full(&t->cc, &t->xc, a->ta, a->n);
	br_ssl_engine_set_versions(&t->cc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(&t->cc.eng, suites,
				 sizeof(suites) / sizeof(suites[0]));
	/* Nothing we talk to renegotiates, and without it reads and
	 * writes can never wait on each other (see pump). */
	br_ssl_engine_add_flags(&t->cc.eng, BR_OPT_NO_RENEGOTIATION);
	br_x509_minimal_set_time(&t->xc,
				 (uint32_t)(now / 86400) + TLS_EPOCH_DAYS,
				 (uint32_t)(now % 86400));
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof(t->iobuf), 1);
	/* BearSSL seeds itself from /dev/urandom; getrandom(2) also works
	 * where /dev is missing (chroots, sandboxes). */
	if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed))
		br_ssl_engine_inject_entropy(&t->cc.eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	int cause;
	if (!br_ssl_client_reset(&t->cc, host, 0)) {
		cause = describe(t, host, err, errlen);
		goto err_free;
	}

	int r = pump(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, deadline, -1);
	if (r == 0)
		return t;
	cause = errno;
	if (r == PUMP_CLOSED) {
		cause = describe(t, host, err, errlen);
	} else if (r == PUMP_EOF) {
		snprintf(err, errlen, "connection closed during handshake");
		cause = ECONNRESET;
	} else if (errno == ETIMEDOUT) {
		snprintf(err, errlen, "handshake timed out");
	} else if (errno == ECONNRESET || errno == EPIPE) {
		snprintf(err, errlen, "connection closed during handshake: %s",
			 strerror(errno));
	} else {
		snprintf(err, errlen, "handshake failed: %s", strerror(errno));
	}
err_free:
	explicit_bzero(t, sizeof(*t));	/* session keys */
	free(t);
	errno = cause;
	return NULL;
}

ssize_t tls_read(struct tls_conn *t, void *buf, size_t len)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	unsigned char *p;
	size_t avail;

	int r = pump(t, BR_SSL_RECVAPP, -1, sock_timeout(t->fd, SO_RCVTIMEO));
	if (r == PUMP_EOF && t->hdr_got == 0 && t->rec_left == 0)
		return 0;
	if (r == PUMP_EOF) {
		errno = EPROTO;	/* truncated record */
		return -1;
	}
	if (r == PUMP_CLOSED && br_ssl_engine_last_error(eng) == BR_ERR_OK)
		return 0;	/* close_notify */
	if (r < 0)
		return io_fail(t, r);
	p = br_ssl_engine_recvapp_buf(eng, &avail);
	if (avail > len)
		avail = len;
	memcpy(buf, p, avail);
	br_ssl_engine_recvapp_ack(eng, avail);
	return (ssize_t)avail;
}

int tls_write_all(struct tls_conn *t, const void *buf, size_t len)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	int idle = sock_timeout(t->fd, SO_SNDTIMEO);
	const unsigned char *p = buf;
	int r;

	while (len) {
		if ((r = pump(t, BR_SSL_SENDAPP, -1, idle)) < 0)
			return io_fail(t, r);
		size_t room;
		unsigned char *dst = br_ssl_engine_sendapp_buf(eng, &room);
		if (room > len)
			room = len;
		memcpy(dst, p, room);
		br_ssl_engine_sendapp_ack(eng, room);
		p += room;
		len -= room;
	}
	br_ssl_engine_flush(eng, 0);
	/* Returns once every record is on the wire (SENDREC drained). */
	if ((r = pump(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, -1, idle)) < 0)
		return io_fail(t, r);
	return 0;
}

int tls_fd(const struct tls_conn *t)
{
	return t->fd;
}

void tls_close(struct tls_conn *t)
{
	if (!t)
		return;
	if (br_ssl_engine_current_state(&t->cc.eng) != BR_SSL_CLOSED) {
		/* Send our close_notify but do not wait for the peer's
		 * (RFC 5246 §7.2.1 allows closing without it). */
		br_ssl_engine_close(&t->cc.eng);
		pump(t, BR_SSL_RECVREC | BR_SSL_RECVAPP,
		     now_ms() + TLS_CLOSE_MS, -1);
	}
	close(t->fd);
	t->fd = -1;
	explicit_bzero(t, sizeof(*t));	/* session keys */
	free(t);
}
