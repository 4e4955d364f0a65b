/* registry.c: pulling an image from a registry — the OCI distribution
 * API (https://github.com/opencontainers/distribution-spec), as Docker
 * Hub, ghcr.io, quay.io and the `registry` server speak it.
 *
 * A reference is [HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]; the first
 * component is a host when it has a '.' or ':' or is "localhost", else
 * the image is Docker Hub's (registry-1.docker.io, "library/" for
 * one-component names). The manifest (or index: linux/amd64 is picked)
 * comes first, then the config, then every layer the store lacks (images
 * sharing layers fetch them once). Every document and blob is verified
 * against its digest before the store takes it (store_put), and a digest
 * reference pins the manifest itself.
 *
 * Transport: HTTPS through BearSSL with the system trust store or
 * VOIDBOX_CA_FILE. Plain HTTP only when asked (--plain-http) or for a
 * loopback registry whose port does not speak TLS.
 *
 * Auth: a 401's challenge says how. Bearer: a token from the realm it
 * names (with the user's credentials, when there are any, as Basic),
 * then the request again. Basic: the credentials directly. Credentials
 * come from the first docker-style config found: $VOIDBOX_REGISTRY_AUTH,
 * $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json
 * ("auths": {HOST: {"auth": base64(user:password)}}). They never follow a
 * redirect to another host (blob storage often lives elsewhere).
 *
 * Blobs land in tmp/pull-HEX.part first: a pull cut short (network, a
 * killed process) resumes from where it stopped with a Range request, in
 * the same run (up to PULL_RETRIES times) or the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>
#include <cjson/cJSON.h>

#include "image.h"
#include "../http/http.h"
#include "../util/util.h"

#define PULL_TIMEOUT_MS	30000
#define PULL_RETRIES	4	/* resumed attempts per blob */
#define PULL_REDIRECTS	5
#define TOKEN_MAX	(64u << 10)

#define ACCEPT_MANIFESTS "Accept: " OCI_MT_INDEX ", " DOCKER_MT_LIST ", " \
	OCI_MT_MANIFEST ", " DOCKER_MT_MANIFEST

struct ref {
	char host[256];		/* as written: HOST[:PORT] */
	char repo[256];
	char tag[129];
	char digest[72];
};

struct pull {
	struct img_store *s;
	const struct pull_opts *o;
	struct ref ref;
	bool plain;
	char basic[600];	/* "Basic ..." or "" */
	char *bearer;		/* "Bearer ..." or NULL */
	char *err;
	size_t errlen;
};

/* ---- references --------------------------------------------------------- */

static bool repo_ok(const char *s)
{
	if (!*s || *s == '/' || s[strlen(s) - 1] == '/')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      strchr("._-/", *s)))
			return false;
	return true;
}

static int parse_ref(const char *in, struct ref *r, char *err, size_t errlen)
{
	char s[600];

	memset(r, 0, sizeof(*r));
	if (strlen(in) >= sizeof(s))
		return image_err(err, errlen, EINVAL, "%.80s...: reference too long", in);
	snprintf(s, sizeof(s), "%s", in);
	char *at = strchr(s, '@');
	if (at) {
		*at = '\0';
		if (!oci_digest_ok(at + 1))
			return image_err(err, errlen, EINVAL, "%s: not a sha256 digest", in);
		snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
	}
	char *slash = strchr(s, '/'), *path = s;
	if (slash && (memchr(s, '.', (size_t)(slash - s)) ||
		      memchr(s, ':', (size_t)(slash - s)) ||
		      !strncmp(s, "localhost/", 10))) {
		*slash = '\0';
		snprintf(r->host, sizeof(r->host), "%s", s);
		path = slash + 1;
	} else {
		snprintf(r->host, sizeof(r->host), "registry-1.docker.io");
	}
	char *colon = strrchr(path, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		if (!colon[1] || strlen(colon + 1) > 128 ||
		    strspn(colon + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789_.-") != strlen(colon + 1))
			return image_err(err, errlen, EINVAL, "%s: bad tag", in);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	}
	if (!r->tag[0] && !r->digest[0])
		snprintf(r->tag, sizeof(r->tag), "latest");
	int n = snprintf(r->repo, sizeof(r->repo), "%s%s",
			 !strcmp(r->host, "registry-1.docker.io") && !strchr(path, '/')
			 ? "library/" : "", path);
	if (n < 0 || (size_t)n >= sizeof(r->repo) || !repo_ok(r->repo))
		return image_err(err, errlen, EINVAL, "%s: bad repository name", in);
	return 0;
}

static bool host_is_loopback(const char *hostport)
{
	return !strncmp(hostport, "127.", 4) || !strncmp(hostport, "localhost", 9) ||
	       !strncmp(hostport, "[::1]", 5);
}

/* ---- credentials -------------------------------------------------------- */

static void b64(const char *in, char *out, size_t outlen)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)in[i] << 16 |
			     (i + 1 < n ? (uint32_t)(uint8_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? (uint8_t)in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

/* "Basic ..." for host from the first auth file found, or "". */
static void find_credentials(const char *host, char *out, size_t outlen)
{
	char path[4096];
	const char *e;

	out[0] = '\0';
	if ((e = getenv("VOIDBOX_REGISTRY_AUTH")) && *e)
		snprintf(path, sizeof(path), "%s", e);
	else if ((e = getenv("REGISTRY_AUTH_FILE")) && *e)
		snprintf(path, sizeof(path), "%s", e);
	else if ((e = getenv("DOCKER_CONFIG")) && *e)
		snprintf(path, sizeof(path), "%s/config.json", e);
	else if ((e = getenv("HOME")) && *e)
		snprintf(path, sizeof(path), "%s/.docker/config.json", e);
	else
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char *buf = malloc(1u << 20);
	ssize_t n = buf ? read(fd, buf, (1u << 20) - 1) : -1;
	close(fd);
	cJSON *j = n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
	free(buf);
	cJSON *auths = cJSON_GetObjectItemCaseSensitive(j, "auths"), *a;
	bool hub = !strcmp(host, "registry-1.docker.io");
	cJSON_ArrayForEach(a, auths) {
		const char *k = a->string;
		if (!strncmp(k, "https://", 8))
			k += 8;
		else if (!strncmp(k, "http://", 7))
			k += 7;
		size_t kl = strcspn(k, "/");
		bool match = (kl == strlen(host) && !strncmp(k, host, kl)) ||
			     (hub && kl == 15 && !strncmp(k, "index.docker.io", 15)) ||
			     (hub && kl == 9 && !strncmp(k, "docker.io", 9));
		if (!match)
			continue;
		cJSON *au = cJSON_GetObjectItemCaseSensitive(a, "auth");
		cJSON *u = cJSON_GetObjectItemCaseSensitive(a, "username");
		cJSON *p = cJSON_GetObjectItemCaseSensitive(a, "password");
		if (cJSON_IsString(au) && strlen(au->valuestring) < outlen - 7 &&
		    strspn(au->valuestring, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
					    "qrstuvwxyz0123456789+/=") == strlen(au->valuestring)) {
			snprintf(out, outlen, "Basic %s", au->valuestring);
		} else if (cJSON_IsString(u) && cJSON_IsString(p)) {
			char up[400], enc[560];
			snprintf(up, sizeof(up), "%s:%s", u->valuestring, p->valuestring);
			b64(up, enc, sizeof(enc));
			snprintf(out, outlen, "Basic %s", enc);
			memset(up, 0, sizeof(up));
		}
		break;
	}
	cJSON_Delete(j);
}

/* ---- requests ----------------------------------------------------------- */

static int perr(struct pull *p, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct pull *p, int e, const char *fmt, ...)
{
	char m[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return image_err(p->err, p->errlen, e, "pull %s/%s: %s", p->ref.host, p->ref.repo, m);
}

/* A challenge's parameter (realm, service, scope) into out, or "". */
static void challenge_param(const char *ch, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	for (const char *s = ch; (s = strstr(s, name)); s += nl) {
		if ((s != ch && s[-1] != ' ' && s[-1] != ',') || s[nl] != '=')
			continue;
		const char *v = s + nl + 1;
		size_t n = *v == '"' ? strcspn(++v, "\"") : strcspn(v, ", ");
		if (n < outlen)
			snprintf(out, outlen, "%.*s", (int)n, v);
		return;
	}
}

static void urlenc(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 4 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", c);
	}
	out[o] = '\0';
}

static int get(struct pull *p, const char *url, const char *const *extra,
	       bool auth, struct http_resp *r);

/* Bearer: a token from the challenge's realm. 0 or -errno. */
static int fetch_token(struct pull *p, const char *challenge)
{
	char realm[1024], service[256], scope[512], url[2400], es[800], esc[1100];
	struct http_resp r;

	challenge_param(challenge, "realm", realm, sizeof(realm));
	challenge_param(challenge, "service", service, sizeof(service));
	challenge_param(challenge, "scope", scope, sizeof(scope));
	if (!realm[0])
		return perr(p, EPROTO, "a Bearer challenge without a realm");
	if (strncmp(realm, "https://", 8) && !(p->plain || host_is_loopback(realm + 7)))
		return perr(p, EPROTO, "token realm %.200s is not HTTPS", realm);
	if (!scope[0])
		snprintf(scope, sizeof(scope), "repository:%s:pull", p->ref.repo);
	urlenc(service, es, sizeof(es));
	urlenc(scope, esc, sizeof(esc));
	snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", realm,
		 strchr(realm, '?') ? "&" : "?", es, esc);
	char ah[640];
	snprintf(ah, sizeof(ah), "Authorization: %s", p->basic);
	const char *hdr[2] = { p->basic[0] ? ah : NULL, NULL };
	int e = get(p, url, hdr, false, &r);
	memset(ah, 0, sizeof(ah));
	if (e)
		return e;
	char *body = malloc(TOKEN_MAX + 1);
	size_t n = 0;
	ssize_t got;
	while (body && n < TOKEN_MAX && (got = http_body_read(&r, body + n, TOKEN_MAX - n)) > 0)
		n += (size_t)got;
	int status = r.status;
	http_resp_close(&r);
	if (!body)
		return perr(p, ENOMEM, "out of memory");
	body[n] = '\0';
	cJSON *j = status == 200 ? cJSON_ParseWithLength(body, n) : NULL;
	free(body);
	cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (!cJSON_IsString(t))
		t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) > TOKEN_MAX ||
	    strpbrk(t->valuestring, " \r\n")) {
		cJSON_Delete(j);
		return perr(p, status == 401 || status == 403 ? EACCES : EPROTO,
			    "no token from %.200s (HTTP %d%s)", realm, status,
			    status == 401 ? ": wrong or missing credentials" : "");
	}
	free(p->bearer);
	size_t bl = strlen(t->valuestring) + 24;
	if ((p->bearer = malloc(bl)))
		snprintf(p->bearer, bl, "Authorization: Bearer %s", t->valuestring);
	cJSON_Delete(j);
	return p->bearer ? 0 : perr(p, ENOMEM, "out of memory");
}

/* GET url (absolute, or a path on the registry), following redirects and
 * answering one auth challenge. With auth, the registry's credentials go
 * along, never to another host. r is open on 0. */
static int get(struct pull *p, const char *url, const char *const *extra,
	       bool auth, struct http_resp *r)
{
	char cur[4200], herr[400], basic_hdr[640];
	struct http_url u;
	bool answered = false;

	if (url[0] == '/')
		snprintf(cur, sizeof(cur), "%s://%s%s", p->plain ? "http" : "https",
			 p->ref.host, url);
	else
		snprintf(cur, sizeof(cur), "%s", url);
	for (int hops = 0; hops <= PULL_REDIRECTS; hops++) {
		if (http_url_parse(cur, &u, herr, sizeof(herr)) < 0)
			return perr(p, EPROTO, "%s", herr);
		bool same = auth && !strcmp(u.hostport, p->ref.host);
		const char *hdr[8];
		unsigned nh = 0;
		for (unsigned i = 0; extra && extra[i] && nh < 5; i++)
			hdr[nh++] = extra[i];
		if (same && p->bearer)
			hdr[nh++] = p->bearer;
		else if (same && p->basic[0]) {
			snprintf(basic_hdr, sizeof(basic_hdr), "Authorization: %s", p->basic);
			hdr[nh++] = basic_hdr;
		}
		hdr[nh] = NULL;
		struct http_opts ho = { .timeout_ms = PULL_TIMEOUT_MS,
					.ca_file = getenv("VOIDBOX_CA_FILE"),
					.max_body = IMAGE_MAX_BYTES };
		if (http_get(&u, hdr, &ho, r, herr, sizeof(herr)) < 0) {
			int e = errno == EKEYREJECTED || errno == EPROTO ||
				errno == ECONNRESET ? errno : EIO;
			return perr(p, e, "%s", herr);
		}
		if (r->status == 401 && same && !answered && r->www_authenticate) {
			char ch[2048];
			snprintf(ch, sizeof(ch), "%s", r->www_authenticate);
			http_resp_close(r);
			answered = true;
			if (!strncasecmp(ch, "Bearer ", 7)) {
				int e = fetch_token(p, ch + 7);
				if (e)
					return e;
			} else if (!strncasecmp(ch, "Basic", 5)) {
				if (!p->basic[0])
					return perr(p, EACCES, "the registry wants credentials "
						    "(none found for %s: docs/images.md)", p->ref.host);
				if (p->bearer) {
					free(p->bearer);
					p->bearer = NULL;
				}
			} else {
				return perr(p, EPROTO, "unknown auth challenge %.80s", ch);
			}
			hops--;
			continue;
		}
		if (r->status >= 300 && r->status < 400 && r->status != 304 && r->location) {
			char loc[4200];
			if (r->location[0] == '/')
				snprintf(loc, sizeof(loc), "%s://%s%s", u.tls ? "https" : "http",
					 u.hostport, r->location);
			else
				snprintf(loc, sizeof(loc), "%s", r->location);
			http_resp_close(r);
			if (!strncmp(loc, "http://", 7) && u.tls)
				return perr(p, EPROTO, "redirect from HTTPS to plain HTTP refused");
			snprintf(cur, sizeof(cur), "%s", loc);
			continue;
		}
		return 0;
	}
	http_resp_close(r);
	return perr(p, ELOOP, "more than %d redirects", PULL_REDIRECTS);
}

/* The registry's error for a failed request, from its JSON body. */
static int status_err(struct pull *p, struct http_resp *r, const char *what)
{
	char body[2048] = "", msg[300] = "";
	size_t n = 0;
	ssize_t got;

	while (n + 1 < sizeof(body) && (got = http_body_read(r, body + n, sizeof(body) - 1 - n)) > 0)
		n += (size_t)got;
	body[n] = '\0';
	cJSON *j = cJSON_Parse(body);
	cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0);
	cJSON *m = cJSON_GetObjectItemCaseSensitive(e0, "message");
	cJSON *c = cJSON_GetObjectItemCaseSensitive(e0, "code");
	if (cJSON_IsString(m))
		snprintf(msg, sizeof(msg), ": %s%s%.200s", cJSON_IsString(c) ? c->valuestring : "",
			 cJSON_IsString(c) ? " " : "", m->valuestring);
	cJSON_Delete(j);
	int st = r->status;
	http_resp_close(r);
	return perr(p, st == 404 ? ENOENT : st == 401 || st == 403 ? EACCES : EIO,
		    "%s: HTTP %d%s", what, st, msg);
}

/* A JSON document (manifest or index) by tag or digest; verified when
 * want is given; *doc malloc'ed. */
static int get_document(struct pull *p, const char *ref, const char *want, char **doc,
			size_t *len)
{
	char path[600];
	struct http_resp r;
	const char *acc[2] = { ACCEPT_MANIFESTS, NULL };

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", p->ref.repo, ref);
	int e = get(p, path, acc, true, &r);
	if (e)
		return e;
	if (r.status != 200)
		return status_err(p, &r, ref);
	if (r.content_length > (long long)OCI_MAX_JSON) {
		http_resp_close(&r);
		return perr(p, EFBIG, "%s: a manifest over %u bytes", ref, OCI_MAX_JSON);
	}
	char *b = malloc(OCI_MAX_JSON + 1);
	size_t n = 0;
	ssize_t got = 0;
	while (b && n <= OCI_MAX_JSON && (got = http_body_read(&r, b + n, OCI_MAX_JSON + 1 - n)) > 0)
		n += (size_t)got;
	http_resp_close(&r);
	if (!b)
		return perr(p, ENOMEM, "out of memory");
	if (got < 0 || n > OCI_MAX_JSON) {
		free(b);
		return perr(p, got < 0 ? (int)-got : EFBIG, "%s: %s", ref,
			    got < 0 ? strerror((int)-got) : "a manifest over 4 MiB");
	}
	b[n] = '\0';
	char hex[65];
	sha256_hex(b, n, hex);
	if (want && strcmp(want + 7, hex)) {
		free(b);
		return perr(p, EBADMSG, "%s: digest mismatch: wanted %s, got sha256:%s", ref,
			    want, hex);
	}
	*doc = b;
	*len = n;
	return 0;
}

/* Store a document we hold (verified already). */
static int put_document(struct pull *p, const char *doc, size_t len, const char *digest)
{
	struct img_mem m = { doc, len };
	char got[72];
	return store_put(p->s, img_mem_read, &m, OCI_MAX_JSON, digest, got, NULL, p->err,
			 p->errlen);
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool in_store(struct pull *p, const char *digest);

/* One blob into the store, resumable (see the top). */
static int fetch_blob(struct pull *p, const struct oci_desc *d, const char *what)
{
	char part[96], path[600], range[64];
	static __thread char buf[128 << 10];
	struct timespec t0;
	int e = 0, fd;

	snprintf(part, sizeof(part), "tmp/pull-%s.part", d->digest + 7);
	if ((fd = openat(p->s->fd, part, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return perr(p, errno, "%s: %s", part, strerror(errno));
	/* One writer per blob: the stages of a fan_out (or two pulls) may
	 * want the same layer at once. The one that waited finds it stored
	 * (its file, if it opened one, was the unlinked or a fresh one). */
	if (flock(fd, LOCK_EX) < 0 || in_store(p, d->digest)) {
		int le = errno;
		close(fd);
		return in_store(p, d->digest) ? 0
			: perr(p, le, "%s: lock: %s", part, strerror(le));
	}
	off_t have = lseek(fd, 0, SEEK_END);
	if (have < 0 || (uint64_t)have > d->size) {
		if (ftruncate(fd, 0) < 0)
			e = perr(p, errno, "%s: %s", part, strerror(errno));
		have = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	log_say("image", "pulling %s %.19s (%.1f MiB%s)", what, d->digest,
		(double)d->size / 1048576, have ? ", resuming" : "");
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", p->ref.repo, d->digest);
	for (int attempt = 0; !e && (uint64_t)have < d->size; attempt++) {
		struct http_resp r;
		snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)have);
		const char *hdr[2] = { have ? range : NULL, NULL };
		if (attempt == PULL_RETRIES) {
			e = perr(p, EIO, "%s %.19s: cut short %d times; run the pull again to "
				 "resume at %.1f MiB", what, d->digest, PULL_RETRIES,
				 (double)have / 1048576);
			break;
		}
		if ((e = get(p, path, hdr, true, &r))) {
			if (attempt + 1 < PULL_RETRIES) {
				e = 0;
				sleep(1);
			}
			continue;
		}
		if (r.status == 200 && have) {
			have = 0;	/* no ranges here: from the start */
			if (ftruncate(fd, 0) < 0) {
				e = perr(p, errno, "%s: %s", part, strerror(errno));
				http_resp_close(&r);
				break;
			}
		} else if (r.status == 206) {
			long long start = -1;
			if (!r.content_range ||
			    sscanf(r.content_range, "bytes %lld-", &start) != 1 || start != have) {
				http_resp_close(&r);
				e = perr(p, EPROTO, "%s: a range reply not at %lld", what,
					 (long long)have);
				break;
			}
		} else if (r.status != 200) {
			e = status_err(p, &r, what);
			break;
		}
		ssize_t got;
		while ((got = http_body_read(&r, buf, sizeof(buf))) > 0) {
			if ((uint64_t)have + (uint64_t)got > d->size) {
				e = perr(p, EFBIG, "%s %.19s: more than the %llu bytes its "
					 "descriptor says", what, d->digest,
					 (unsigned long long)d->size);
				break;
			}
			if (pwrite(fd, buf, (size_t)got, have) != got) {
				e = perr(p, errno ? errno : EIO, "%s: %s", part, strerror(errno));
				break;
			}
			have += got;
		}
		http_resp_close(&r);
		if (!e && got < 0)
			log_say("image", "%s %.19s: %s at %.1f MiB; resuming", what, d->digest,
				strerror((int)-got), (double)have / 1048576);
	}
	if (!e) {
		char digest[72];
		lseek(fd, 0, SEEK_SET);
		e = store_put(p->s, img_fd_read, &fd, d->size, d->digest, digest, NULL, p->err,
			      p->errlen);
		if (e) {
			/* The bytes are wrong: the next pull starts over. */
			unlinkat(p->s->fd, part, 0);
			char m[512];
			snprintf(m, sizeof(m), "%s", p->err);
			perr(p, -e, "%s: %s", what, m);
		} else {
			unlinkat(p->s->fd, part, 0);
			double t = secs_since(&t0);
			log_say("image", "%s %.19s: %.1f MiB in %.1f s", what, d->digest,
				(double)d->size / 1048576, t);
		}
	}
	close(fd);
	return e;
}

static bool in_store(struct pull *p, const char *digest)
{
	int fd = store_blob(p->s, digest);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int registry_pull(struct img_store *s, const char *refstr, const struct pull_opts *o,
		  char manifest[72], char *err, size_t errlen)
{
	struct pull p = { .s = s, .o = o, .err = err, .errlen = errlen };
	struct oci_image img;
	char *doc = NULL, *cfg = NULL, ref_digest[72];
	size_t len, clen;
	int e;

	memset(&img, 0, sizeof(img));
	if ((e = parse_ref(refstr, &p.ref, err, errlen)))
		return e;
	p.plain = o && o->plain_http;
	find_credentials(p.ref.host, p.basic, sizeof(p.basic));
	log_say("image", "pulling %s (%s/%s%s%s)", refstr, p.ref.host, p.ref.repo,
		p.ref.digest[0] ? "@" : ":", p.ref.digest[0] ? p.ref.digest : p.ref.tag);
	const char *want = p.ref.digest[0] ? p.ref.digest : NULL;
	e = get_document(&p, want ? want : p.ref.tag, want, &doc, &len);
	if ((e == -EPROTO || e == -ECONNRESET) && !p.plain &&
	    host_is_loopback(p.ref.host)) {
		/* A loopback registry that does not speak TLS (the only plain
		 * HTTP taken without --plain-http; a certificate that fails
		 * verification is EKEYREJECTED and stays an error). */
		p.plain = true;
		e = get_document(&p, want ? want : p.ref.tag, want, &doc, &len);
	}
	if (e)
		goto out;
	char hex[65];
	sha256_hex(doc, len, hex);
	snprintf(ref_digest, sizeof(ref_digest), "sha256:%s", hex);
	if (oci_kind(doc, len) == OCI_DOC_INDEX) {
		struct oci_desc d;
		if ((e = oci_pick(doc, len, "linux", "amd64", &d, err, errlen)))
			goto out;
		free(doc);
		doc = NULL;
		if ((e = get_document(&p, d.digest, d.digest, &doc, &len)))
			goto out;
		snprintf(ref_digest, sizeof(ref_digest), "%s", d.digest);
	}
	if ((e = oci_manifest(doc, len, &img, err, errlen)) ||
	    (e = put_document(&p, doc, len, ref_digest)))
		goto out;
	if (!in_store(&p, img.config.digest) &&
	    (e = fetch_blob(&p, &img.config, "config")))
		goto out;
	if ((e = store_read(s, img.config.digest, &cfg, &clen, OCI_MAX_JSON, err, errlen)) ||
	    (e = oci_config(cfg, clen, "linux", "amd64", &img, err, errlen)))
		goto out;
	unsigned cached = 0;
	for (unsigned i = 0; i < img.nlayers && !e; i++) {
		char what[32];
		snprintf(what, sizeof(what), "layer %u/%u", i + 1, img.nlayers);
		if (in_store(&p, img.layers[i].digest))
			cached++;
		else
			e = fetch_blob(&p, &img.layers[i], what);
	}
	if (e)
		goto out;
	if (cached)
		log_say("image", "%u of %u layers were in the store already", cached,
			img.nlayers);
	memcpy(manifest, ref_digest, 72);
	e = store_ref_set(s, refstr, ref_digest, err, errlen);
out:
	oci_image_free(&img);
	free(doc);
	free(cfg);
	free(p.bearer);
	memset(p.basic, 0, sizeof(p.basic));
	return e;
}
