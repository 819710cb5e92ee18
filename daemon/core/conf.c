#include "conf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"
#include "xalloc.h"

#include "queue_backend.h"

#include "address.h"

/* Loading state: the file name for messages and the errors found so far. */
struct loader {
	const char *file;
	struct sbuf *errors;
	int n_errors;
	struct conf *c;
	int flags;
};

static void
report(struct loader *L, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(struct loader *L, int line, const char *path, const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		sbuf_printf(L->errors, "%s:%d: ", L->file, line);
	else
		sbuf_printf(L->errors, "%s: ", L->file);
	if (path != NULL && *path)
		sbuf_printf(L->errors, "%s: ", path);
	va_start(ap, fmt);
	sbuf_vprintf(L->errors, fmt, ap);
	va_end(ap);
	sbuf_putc(L->errors, '\n');
	L->n_errors++;
}

static int
line_of(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

/* "smtp" + "url" → "smtp.url"; "recipients" + 3 → "recipients[3]". */
static char *
join_path(const char *parent, const char *name)
{
	struct sbuf b = SBUF_INIT;

	if (parent && *parent)
		sbuf_printf(&b, "%s.%s", parent, name);
	else
		sbuf_puts(&b, name);
	return sbuf_steal(&b);
}

static char *
index_path(const char *parent, int i)
{
	struct sbuf b = SBUF_INIT;

	sbuf_printf(&b, "%s[%d]", parent, i);
	return sbuf_steal(&b);
}

static void
check_known(struct loader *L, const config_setting_t *group, const char *path,
    const char *const *known)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		bool ok = false;
		if (name == NULL)
			continue;
		for (const char *const *k = known; *k; k++)
			if (strcmp(*k, name) == 0)
				ok = true;
		if (!ok) {
			struct sbuf list = SBUF_INIT;
			for (const char *const *k = known; *k; k++)
				sbuf_printf(&list, "%s%s", k == known ? "" : ", ", *k);
			char *p = join_path(path, name);
			report(L, line_of(m), p, "unknown setting (expected one of: %s)",
			    sbuf_str(&list));
			free(p);
			sbuf_free(&list);
		}
	}
}

/* A group setting (or NULL when absent); a setting of another type is an error. */
static config_setting_t *
get_group(struct loader *L, config_setting_t *parent, const char *name,
    const char *path)
{
	config_setting_t *s = config_setting_get_member(parent, name);

	if (s != NULL && !config_setting_is_group(s)) {
		char *p = join_path(path, name);
		report(L, line_of(s), p, "expected a group { … }");
		free(p);
		return NULL;
	}
	return s;
}

static void
get_string(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, char **dst)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	char *p;

	if (s == NULL)
		return;
	p = join_path(path, name);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(L, line_of(s), p, "expected a string in double quotes");
	} else {
		const char *v = config_setting_get_string(s);
		char *stripped = text_strip(v, strlen(v));
		if (*stripped == '\0')
			report(L, line_of(s), p, "must not be empty");
		free(*dst);
		*dst = stripped;
	}
	free(p);
}

static void
get_long(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, long *dst, long min, long max)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	char *p;
	long long v;

	if (s == NULL)
		return;
	p = join_path(path, name);
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		report(L, line_of(s), p, "expected a whole number");
		free(p);
		return;
	}
	if (v < min || v > max)
		report(L, line_of(s), p, "%lld is out of range (expected %ld to %ld)",
		    v, min, max);
	else
		*dst = (long)v;
	free(p);
}

static void
get_int(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, int *dst, int min, int max)
{
	long v = *dst;

	get_long(L, parent, name, path, &v, min, max);
	*dst = (int)v;
}

static void
free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A string, or an array/list of strings: [ "a", "b" ]. */
static void
get_bool(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, bool *dst)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	char *p;

	if (s == NULL)
		return;
	p = join_path(path, name);
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		report(L, line_of(s), p, "expected true or false");
	else
		*dst = config_setting_get_bool(s) != 0;
	free(p);
}

/*
 * node = "name"; or node = { name = "name"; lease = SECONDS; }; The name
 * goes into folder names (outbox/.node-NAME) and the queue's nodes table.
 */
static void
load_node(struct loader *L, config_setting_t *root)
{
	config_setting_t *n = config_setting_get_member(root, "node");
	config_setting_t *where = n;

	if (n != NULL && config_setting_is_group(n)) {
		static const char *const known[] = { "name", "lease", NULL };
		check_known(L, n, "node", known);
		get_string(L, n, "name", "node", &L->c->node);
		get_long(L, n, "lease", "node", &L->c->node_lease, 3, 3600);
		where = config_setting_get_member(n, "name");
	} else {
		get_string(L, root, "node", "", &L->c->node);
	}
	const char *v = L->c->node;
	size_t len = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-");
	if (v[len] != '\0' || len == 0 || len > 63 || v[0] == '.')
		report(L, line_of(where), n != NULL && config_setting_is_group(n) ?
		    "node.name" : "node", "'%s': expected 1 to 63 letters, digits, '.', "
		    "'_' or '-', not starting with '.'", v);
}

static void
get_string_list(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, char ***list, size_t *n)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	char *p;

	if (s == NULL)
		return;
	p = join_path(path, name);
	free_list(*list, *n);
	*list = NULL;
	*n = 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);
		*list = xcalloc(1, sizeof(char *));
		(*list)[(*n)++] = text_strip(v, strlen(v));
	} else if (config_setting_is_aggregate(s) && !config_setting_is_group(s)) {
		int len = config_setting_length(s);
		*list = xcalloc((size_t)len + 1, sizeof(char *));
		for (int i = 0; i < len; i++) {
			config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				char *ip = index_path(p, i);
				report(L, line_of(e), ip, "expected a string in double quotes");
				free(ip);
				continue;
			}
			const char *v = config_setting_get_string(e);
			char *stripped = text_strip(v, strlen(v));
			if (*stripped == '\0') {
				char *ip = index_path(p, i);
				report(L, line_of(e), ip, "must not be empty");
				free(ip);
				free(stripped);
				continue;
			}
			(*list)[(*n)++] = stripped;
		}
	} else {
		report(L, line_of(s), p, "expected a string or a list [ \"…\", … ]");
	}
	free(p);
}

/* A list ( {…}, {…} ) of groups; NULL when absent or not a list. */
static config_setting_t *
get_list(struct loader *L, config_setting_t *root, const char *name)
{
	config_setting_t *s = config_setting_get_member(root, name);

	if (s != NULL && !config_setting_is_list(s) && !config_setting_is_array(s)) {
		report(L, line_of(s), name, "expected a list ( { … }, { … } )");
		return NULL;
	}
	return s;
}

static config_setting_t *
list_elem(struct loader *L, config_setting_t *list, int i, const char *path)
{
	config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

	if (!config_setting_is_group(e)) {
		report(L, line_of(e), path, "expected a group { … }");
		return NULL;
	}
	return e;
}

/* ---- sections ---------------------------------------------------------- */

/* The length of s's URL scheme when s starts "scheme://" (RFC 3986), else 0. */
static size_t
url_scheme_length(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]))
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' || s[n] == '.')
		n++;
	return strncmp(s + n, "://", 3) == 0 ? n : 0;
}

/*
 * state names a server queue (PostgreSQL): its connection string must
 * carry no password, and the backend must be complete — a half-built
 * backend would fail at its first missing operation, so it is refused
 * here, naming what is missing. Neither message quotes the string.
 */
static void
check_server_queue(struct loader *L, config_setting_t *root,
    const struct queue_backend *backend, const char *state)
{
	char why[1024], missing[2048];
	int line = line_of(config_setting_get_member(root, "state"));
	size_t n;

	if (queue_pg_check_location(state, why, sizeof(why)) < 0)
		report(L, line, "state", "%s", why);
	else if ((n = queue_backend_missing(backend, missing, sizeof(missing))) > 0)
		report(L, line, "state", "the PostgreSQL queue backend is incomplete: %zu "
		    "operations are not built yet (%s); use a file path (the SQLite "
		    "queue) until it is", n, missing);
}

static void
load_paths(struct loader *L, config_setting_t *root)
{
	struct conf *c = L->c;
	struct { const char *name; char **dst; } paths[] = {
		{ "outbox", &c->outbox }, { "archive", &c->archive },
		{ "rejected", &c->rejected }, { "state", &c->state },
		{ "delivery_log", &c->delivery_log },
		{ "control_socket", &c->control_socket },
	};

	/*
	 * outbox is a path, or a group with the path and how the outbox is
	 * watched: outbox = { path = "…"; settle = 5; };
	 */
	config_setting_t *ob = config_setting_get_member(root, "outbox");
	if (ob != NULL && config_setting_is_group(ob)) {
		static const char *const known[] = { "path", "settle", "shared", NULL };
		check_known(L, ob, "outbox", known);
		get_string(L, ob, "path", "outbox", &c->outbox);
		get_long(L, ob, "settle", "outbox", &c->outbox_settle, 1, 3600);
		get_bool(L, ob, "shared", "outbox", &c->outbox_shared);
		if (c->outbox[0] != '/')
			report(L, line_of(config_setting_get_member(ob, "path")),
			    "outbox.path", "'%s' is not an absolute path", c->outbox);
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (i == 0 && ob != NULL && config_setting_is_group(ob))
			continue;
		get_string(L, root, paths[i].name, "", paths[i].dst);
		size_t scheme = url_scheme_length(*paths[i].dst);
		const struct queue_backend *backend = NULL;
		char why[1024];
		if (paths[i].dst == &c->state && (*paths[i].dst)[0] != '/')
			backend = queue_backend_for(*paths[i].dst, why, sizeof(why));
		if (paths[i].dst == &c->state && backend == NULL && scheme > 0)
			/* a server queue is named by its scheme */
			report(L, line_of(config_setting_get_member(root, paths[i].name)),
			    paths[i].name, "unsupported queue backend \"%.*s\" in '%s' "
			    "(a file path selects the SQLite queue)", (int)scheme,
			    *paths[i].dst, *paths[i].dst);
		else if (backend == &queue_backend_pg)
			check_server_queue(L, root, backend, *paths[i].dst);
		else if ((*paths[i].dst)[0] != '/')
			report(L, line_of(config_setting_get_member(root, paths[i].name)),
			    paths[i].name, "'%s' is not an absolute path", *paths[i].dst);
	}
}

/*
 * Is host (as libcurl's URL parser gives it: "127.0.0.1", "[::1]",
 * "localhost") a loopback address? Only literal addresses and the name
 * localhost count: anything that needs a resolver to tell is not
 * loopback, so a doubtful host fails closed.
 */
static bool
is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char inner[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(host);

	if (g_ascii_strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;	/* 127.0.0.0/8 */
	if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof(inner))
		return false;
	memcpy(inner, host + 1, n - 2);
	inner[n - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	/* ::ffff:127.x.y.z is IPv4 loopback too */
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* A relay's URL, parsed: smtp.url or smtp.fallback.url. */
struct relay_url {
	char **host;
	int *port;
	bool *implicit_tls;
	const char *setting;
};

/*
 * smtps://host[:port][/ehlo-name] or smtp://…, read by libcurl's own URL
 * parser: the host checked here (for tls = "none", for the logs) is then
 * exactly the host curl connects to. A hand parser read the userinfo of
 * smtp://127.0.0.1@evil.example.test as the host.
 */
static void
parse_relay_url(struct loader *L, config_setting_t *s, const char *u,
    const struct relay_url *out)
{
	int line = line_of(s);
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *part = NULL;
	CURLUcode rc;

	if (h == NULL) {
		report(L, line, out->setting, "'%s': out of memory reading it", u);
		return;
	}
	/* other schemes parse too, so that the message can name them */
	rc = curl_url_set(h, CURLUPART_URL, u, CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_BAD_PORT_NUMBER) {
		report(L, line, out->setting, "'%s': bad port", u);
		goto out;
	}
	if (rc == CURLUE_NO_HOST) {
		report(L, line, out->setting, "'%s': no host name", u);
		goto out;
	}
	if (rc != CURLUE_OK || (strcmp(scheme, "smtps") != 0 && strcmp(scheme, "smtp") != 0)) {
		report(L, line, out->setting, "'%s': expected smtps://HOST[:PORT] "
		    "(implicit TLS) or smtp://HOST[:PORT] (STARTTLS)%s%s", u,
		    rc != CURLUE_OK ? ": " : "", rc != CURLUE_OK ? curl_url_strerror(rc) : "");
		goto out;
	}
	*out->implicit_tls = strcmp(scheme, "smtps") == 0;
	/* user@, user:password@ or ;options@: credentials never go in the URL */
	if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK) {
		report(L, line, out->setting, "'%s': user information (before '@') is "
		    "not allowed in the URL; the relay is the host after it: set "
		    "smtp.username and smtp.password_file instead", u);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0') {
		report(L, line, out->setting, "'%s': no host name", u);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		report(L, line, out->setting, "'%s': bad port", u);
		goto out;
	}
	char *stop;
	long pn = strtol(port, &stop, 10);
	if (*stop != '\0' || pn < 1 || pn > 65535) {
		report(L, line, out->setting, "'%s': bad port", u);
		goto out;
	}
	*out->host = xstrdup(host);
	*out->port = (int)pn;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(part);
	curl_url_cleanup(h);
}

static void
parse_url(struct loader *L, config_setting_t *s)
{
	struct conf *c = L->c;
	struct relay_url out = { &c->smtp.host, &c->smtp.port, &c->smtp.implicit_tls,
		"smtp.url" };

	parse_relay_url(L, s, c->smtp.url, &out);
}

/* Where a relay's secret comes from, and where it goes. */
struct relay_secret {
	const char *credential;		/* systemd LoadCredential name */
	const char *username, *password_file;
	char **password;
	const char *prefix;		/* "smtp" or "smtp.fallback" */
};

static void
load_secret(struct loader *L, config_setting_t *smtp, const struct relay_secret *rs)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char setting[64], user_setting[64];
	char path[4096];
	const char *source = NULL;
	int line = line_of(config_setting_get_member(smtp, "password_file"));
	struct stat st;

	snprintf(setting, sizeof(setting), "%s.password_file", rs->prefix);
	snprintf(user_setting, sizeof(user_setting), "%s.username", rs->prefix);
	if (creds != NULL) {
		snprintf(path, sizeof(path), "%s/%s", creds, rs->credential);
		if (access(path, F_OK) == 0)
			source = path;
	}
	if (source == NULL && rs->password_file != NULL) {
		source = rs->password_file;
		if (stat(source, &st) == 0) {
			/* Group read is a grant only root can make (root:distd
			 * 0640), so that the distd group's admins can run
			 * `distctl check`; anything wider is refused. */
			bool group_ok = st.st_uid == 0 &&
			    !(st.st_mode & (S_IWGRP | S_IXGRP));
			if ((st.st_mode & S_IRWXO) ||
			    ((st.st_mode & S_IRWXG) && !group_ok))
				report(L, line, setting, "%s is open to "
				    "group or others (mode %03o, owner uid %u); chmod 600 "
				    "it, or chown root:distd and chmod 640",
				    source, (unsigned)(st.st_mode & 0777),
				    (unsigned)st.st_uid);
		} else if (L->flags & CONF_LOAD_SECRETS) {
			report(L, line, setting, "%s: %s", source,
			    strerror(errno));
			return;
		}
	}
	if (!(L->flags & CONF_LOAD_SECRETS))
		return;
	if (source == NULL) {
		if (rs->username != NULL)
			report(L, line_of(config_setting_get_member(smtp, "username")),
			    user_setting, "is set but there is no password: set "
			    "%s or LoadCredential=%s", setting, rs->credential);
		return;
	}
	FILE *f = fopen(source, "re");
	if (f == NULL) {
		report(L, line, setting, "%s: %s", source, strerror(errno));
		return;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0')
		report(L, line, setting, "%s holds no password", source);
	else
		*rs->password = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
}

static void
load_password(struct loader *L, config_setting_t *smtp)
{
	struct conf *c = L->c;
	struct relay_secret rs = { "smtp-password", c->smtp.username,
		c->smtp.password_file, &c->smtp.password, "smtp" };

	load_secret(L, smtp, &rs);
}

/*
 * smtp.fallback = { url; username; password_file; ca_file; }: a second
 * relay with its own credentials, for when the first cannot be reached or
 * refuses our TLS or login.
 */
static void
load_fallback(struct loader *L, config_setting_t *smtp)
{
	static const char *const known[] = { "url", "username", "password_file",
		"ca_file", "pinned_pubkey", "password", NULL };
	struct conf *c = L->c;
	config_setting_t *f = get_group(L, smtp, "fallback", "smtp");

	if (f == NULL)
		return;
	check_known(L, f, "smtp.fallback", known);
	if (config_setting_get_member(f, "password") != NULL)
		report(L, line_of(config_setting_get_member(f, "password")),
		    "smtp.fallback.password", "the password never goes into this file; "
		    "use smtp.fallback.password_file or LoadCredential=smtp-fallback-password");
	get_string(L, f, "url", "smtp.fallback", &c->smtp.fallback.url);
	get_string(L, f, "username", "smtp.fallback", &c->smtp.fallback.username);
	get_string(L, f, "password_file", "smtp.fallback", &c->smtp.fallback.password_file);
	get_string(L, f, "ca_file", "smtp.fallback", &c->smtp.fallback.ca_file);
	get_string(L, f, "pinned_pubkey", "smtp.fallback", &c->smtp.fallback.pinned_pubkey);
	if (c->smtp.fallback.url == NULL) {
		report(L, line_of(f), "smtp.fallback.url", "missing (e.g. "
		    "\"smtps://backup.example.test:465\")");
		return;
	}
	struct relay_url out = { &c->smtp.fallback.host, &c->smtp.fallback.port,
		&c->smtp.fallback.implicit_tls, "smtp.fallback.url" };
	parse_relay_url(L, config_setting_get_member(f, "url"), c->smtp.fallback.url, &out);
	if (c->smtp.fallback.ca_file != NULL && access(c->smtp.fallback.ca_file, R_OK) != 0)
		report(L, line_of(config_setting_get_member(f, "ca_file")),
		    "smtp.fallback.ca_file", "%s: %s", c->smtp.fallback.ca_file,
		    strerror(errno));
	struct relay_secret rs = { "smtp-fallback-password", c->smtp.fallback.username,
		c->smtp.fallback.password_file, &c->smtp.fallback.password,
		"smtp.fallback" };
	load_secret(L, f, &rs);
}

static void
load_smtp(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "url", "username", "password_file",
		"ca_file", "pinned_pubkey", "connections", "max_rcpt_per_message",
		"timeout", "tls", "password", "helo", "idle_timeout",
		"max_message_bytes", "max_messages_per_minute",
		"max_recipients_per_hour", "fallback", NULL };
	struct conf *c = L->c;
	config_setting_t *smtp = get_group(L, root, "smtp", "");
	char *tls = NULL;

	if (smtp == NULL) {
		report(L, 0, "smtp", "missing: set at least smtp.url");
		return;
	}
	check_known(L, smtp, "smtp", known);
	if (config_setting_get_member(smtp, "password") != NULL)
		report(L, line_of(config_setting_get_member(smtp, "password")),
		    "smtp.password", "the password never goes into this file; "
		    "use smtp.password_file or systemd's LoadCredential=smtp-password");
	get_string(L, smtp, "url", "smtp", &c->smtp.url);
	get_string(L, smtp, "username", "smtp", &c->smtp.username);
	get_string(L, smtp, "password_file", "smtp", &c->smtp.password_file);
	get_string(L, smtp, "ca_file", "smtp", &c->smtp.ca_file);
	get_string(L, smtp, "pinned_pubkey", "smtp", &c->smtp.pinned_pubkey);
	get_string(L, smtp, "tls", "smtp", &tls);
	get_int(L, smtp, "connections", "smtp", &c->smtp.connections, 1, 32);
	get_int(L, smtp, "max_rcpt_per_message", "smtp",
	    &c->smtp.max_rcpt_per_message, 1, 1000);
	get_int(L, smtp, "timeout", "smtp", &c->smtp.timeout, 1, 3600);
	get_string(L, smtp, "helo", "smtp", &c->smtp.helo);
	get_int(L, smtp, "idle_timeout", "smtp", &c->smtp.idle_timeout, 1, 3600);
	get_long(L, smtp, "max_message_bytes", "smtp", &c->smtp.max_message_bytes,
	    1024, 1L << 31);
	get_int(L, smtp, "max_messages_per_minute", "smtp",
	    &c->smtp.max_messages_per_minute, 1, 100000);
	get_long(L, smtp, "max_recipients_per_hour", "smtp",
	    &c->smtp.max_recipients_per_hour, 1, 10000000);
	/* relays with reject_non_fqdn_helo_hostname refuse a bare "vm" */
	if (c->smtp.helo != NULL && c->smtp.helo[0] != '[' &&
	    (strchr(c->smtp.helo, '.') == NULL ||
	    strspn(c->smtp.helo, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-") != strlen(c->smtp.helo)))
		report(L, line_of(config_setting_get_member(smtp, "helo")), "smtp.helo",
		    "'%s': expected a fully qualified name (host.example.test) or an "
		    "address literal ([192.0.2.1])", c->smtp.helo);

	if (c->smtp.url == NULL)
		report(L, line_of(smtp), "smtp.url", "missing (e.g. "
		    "\"smtps://mail.example.test:465\")");
	else
		parse_url(L, config_setting_get_member(smtp, "url"));

	int tls_line = line_of(config_setting_get_member(smtp, "tls"));
	if (tls != NULL && strcmp(tls, "none") == 0) {
		if (c->smtp.implicit_tls)
			report(L, tls_line, "smtp.tls", "\"none\" contradicts smtps://");
		else if (c->smtp.host && !is_loopback(c->smtp.host))
			report(L, tls_line, "smtp.tls", "\"none\" is only allowed for "
			    "a relay on 127.0.0.1 (or another loopback address: "
			    "127.0.0.0/8, [::1], localhost), not %s", c->smtp.host);
		else if (c->smtp.username != NULL)
			report(L, tls_line, "smtp.tls", "\"none\" with smtp.username "
			    "would send the password in clear");
		c->smtp.tls_none = true;
	} else if (tls != NULL && strcmp(tls, "required") != 0) {
		report(L, tls_line, "smtp.tls", "'%s': expected \"required\" "
		    "(the default) or \"none\"", tls);
	}
	free(tls);
	if (c->smtp.ca_file != NULL && access(c->smtp.ca_file, R_OK) != 0)
		report(L, line_of(config_setting_get_member(smtp, "ca_file")),
		    "smtp.ca_file", "%s: %s", c->smtp.ca_file, strerror(errno));
	load_password(L, smtp);
	load_fallback(L, smtp);
}

/*
 * feedback = { url = "imaps://host/INBOX"; username; password_file;
 * interval; done_folder; address; ca_file; }: the mailbox bounces and
 * receipts come back to. imaps only: over imap:// (even with STARTTLS
 * offered) a stripped capability would let the LOGIN cross in clear.
 */
static void
parse_feedback_url(struct loader *L, config_setting_t *s)
{
	struct conf *c = L->c;
	const char *u = c->feedback.url;
	int line = line_of(s);
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *part = NULL;
	CURLUcode rc;

	if (h == NULL) {
		report(L, line, "feedback.url", "'%s': out of memory reading it", u);
		return;
	}
	rc = curl_url_set(h, CURLUPART_URL, u, CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_OK && strcmp(scheme, "imap") == 0) {
		report(L, line, "feedback.url", "'%s': imap:// is refused: the "
		    "password would cross the network in the clear; use "
		    "imaps://HOST[:PORT]/FOLDER (implicit TLS, port 993)", u);
		goto out;
	}
	if (rc != CURLUE_OK || strcmp(scheme, "imaps") != 0) {
		report(L, line, "feedback.url", "'%s': expected imaps://HOST[:PORT]"
		    "[/FOLDER]%s%s", u, rc != CURLUE_OK ? ": " : "",
		    rc != CURLUE_OK ? curl_url_strerror(rc) : "");
		goto out;
	}
	if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK) {
		report(L, line, "feedback.url", "'%s': user information (before "
		    "'@') is not allowed in the URL: set feedback.username and "
		    "feedback.password_file instead", u);
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(h, CURLUPART_QUERY, &part, 0) == CURLUE_OK) {
		report(L, line, "feedback.url", "'%s': a query (?…) is not allowed: "
		    "the URL names a folder, distd makes its own searches", u);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0') {
		report(L, line, "feedback.url", "'%s': no host name", u);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		report(L, line, "feedback.url", "'%s': bad port", u);
		goto out;
	}
	char *stop;
	long pn = strtol(port, &stop, 10);
	if (*stop != '\0' || pn < 1 || pn > 65535) {
		report(L, line, "feedback.url", "'%s': bad port", u);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
		report(L, line, "feedback.url", "'%s': the folder is not valid "
		    "URL encoding", u);
		goto out;
	}
	const char *folder = path[0] == '/' ? path + 1 : path;
	size_t n = strlen(folder);
	if (n > 0 && folder[n - 1] == '/')
		n--;
	/* ;UIDVALIDITY=…, ;UID=… (RFC 5092) are curl's, not a folder's */
	for (size_t i = 0; i < n; i++)
		if (folder[i] == ';' || folder[i] == '"' || folder[i] == '\\' ||
		    (unsigned char)folder[i] < 0x20 || folder[i] == 0x7f) {
			report(L, line, "feedback.url", "'%s': the folder name may not "
			    "hold ';', '\"', '\\' or control characters", u);
			goto out;
		}
	c->feedback.folder = n == 0 ? xstrdup("INBOX") : xstrndup(folder, n);
	c->feedback.host = xstrdup(host);
	c->feedback.port = (int)pn;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(part);
	curl_url_cleanup(h);
}

static void
load_feedback(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "url", "username", "password_file",
		"interval", "done_folder", "address", "ca_file", "password", NULL };
	struct conf *c = L->c;
	config_setting_t *f = get_group(L, root, "feedback", "");

	if (f == NULL)
		return;
	c->feedback.enabled = true;
	check_known(L, f, "feedback", known);
	if (config_setting_get_member(f, "password") != NULL)
		report(L, line_of(config_setting_get_member(f, "password")),
		    "feedback.password", "the password never goes into this file; "
		    "use feedback.password_file or LoadCredential=feedback.password");
	get_string(L, f, "url", "feedback", &c->feedback.url);
	get_string(L, f, "username", "feedback", &c->feedback.username);
	get_string(L, f, "password_file", "feedback", &c->feedback.password_file);
	get_string(L, f, "ca_file", "feedback", &c->feedback.ca_file);
	get_string(L, f, "done_folder", "feedback", &c->feedback.done_folder);
	get_string(L, f, "address", "feedback", &c->feedback.address);
	get_long(L, f, "interval", "feedback", &c->feedback.interval, 30, 86400);
	if (c->feedback.url == NULL)
		report(L, line_of(f), "feedback.url", "missing (e.g. "
		    "\"imaps://imap.example.test/INBOX\")");
	else
		parse_feedback_url(L, config_setting_get_member(f, "url"));
	if (c->feedback.username == NULL)
		report(L, line_of(f), "feedback.username", "missing: the mailbox's "
		    "login name (e.g. \"distd@example.test\")");
	const char *d = c->feedback.done_folder;
	if (d != NULL && (strpbrk(d, "\"\\;") != NULL || strchr(d, '*') ||
	    strchr(d, '%')))
		report(L, line_of(config_setting_get_member(f, "done_folder")),
		    "feedback.done_folder", "'%s': may not hold '\"', '\\', ';', "
		    "'*' or '%%'", d);
	else if (d != NULL && c->feedback.folder != NULL &&
	    g_ascii_strcasecmp(d, c->feedback.folder) == 0)
		report(L, line_of(config_setting_get_member(f, "done_folder")),
		    "feedback.done_folder", "'%s' is the folder read (feedback.url): "
		    "processed messages must leave it", d);
	if (d == NULL)
		c->feedback.done_folder = xstrdup("distd-done");
	if (c->feedback.address != NULL) {
		char why[256];
		if (!address_valid(c->feedback.address, why, sizeof(why)))
			report(L, line_of(config_setting_get_member(f, "address")),
			    "feedback.address", "'%s': %s", c->feedback.address, why);
	}
	if (c->feedback.ca_file != NULL && access(c->feedback.ca_file, R_OK) != 0)
		report(L, line_of(config_setting_get_member(f, "ca_file")),
		    "feedback.ca_file", "%s: %s", c->feedback.ca_file, strerror(errno));
	struct relay_secret rs = { "feedback.password", c->feedback.username,
		c->feedback.password_file, &c->feedback.password, "feedback" };
	load_secret(L, f, &rs);
}

static void
check_template(struct loader *L, int line, const char *path, const char *t)
{
	static const char *const names[] = { "title", "issue", "total", "date",
		"issuer", "urgency", NULL };

	for (const char *p = strchr(t, '%'); p; p = strchr(p, '%')) {
		const char *e = strchr(p + 1, '%');
		bool ok = false;
		if (e == NULL) {
			report(L, line, path, "unmatched '%%' (write "
			    "%%%% for a literal one)");
			return;
		}
		if (e == p + 1)
			ok = true;
		for (const char *const *n = names; !ok && *n; n++)
			if ((size_t)(e - p - 1) == strlen(*n) &&
			    strncmp(p + 1, *n, strlen(*n)) == 0)
				ok = true;
		if (!ok)
			report(L, line, path, "unknown placeholder "
			    "'%.*s' (expected %%title%%, %%issue%%, %%total%%, "
			    "%%date%%, %%issuer%% or %%urgency%%)", (int)(e - p + 1), p);
		p = e + 1;
	}
}

/*
 * from or reply_to of sender or a series entry: a mailbox, split into its
 * display name and address. A header value is one line: a control
 * character (a CR or LF would start a header of its own) is refused here,
 * before anything is mailed.
 */
static void
load_mailbox(struct loader *L, config_setting_t *group, const char *path,
    const char *name, char **whole, char **display, char **address)
{
	char why[256], *p;

	get_string(L, group, name, path, whole);
	if (*whole == NULL)
		return;
	p = join_path(path, name);
	for (const unsigned char *q = (const unsigned char *)*whole; *q; q++)
		if (*q < 0x20 || *q == 0x7F) {
			report(L, line_of(config_setting_get_member(group, name)), p,
			    "control character (byte 0x%02X) in a header value", *q);
			free(p);
			return;
		}
	if (address_parse_mailbox(*whole, display, address, why, sizeof(why)) < 0)
		report(L, line_of(config_setting_get_member(group, name)), p,
		    "'%s' is not a mailbox: %s", *whole, why);
	free(p);
}

static void
load_sender(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "from", "reply_to", "subject", "admin", NULL };
	struct conf *c = L->c;
	config_setting_t *s = get_group(L, root, "sender", "");
	char why[256];

	if (s == NULL) {
		report(L, 0, "sender", "missing: set at least sender.from");
		return;
	}
	check_known(L, s, "sender", known);
	get_string(L, s, "subject", "sender", &c->sender.subject);
	get_string(L, s, "admin", "sender", &c->sender.admin);
	if (config_setting_get_member(s, "from") == NULL)
		report(L, line_of(s), "sender.from", "missing (e.g. "
		    "\"Office <bulletin@example.test>\")");
	load_mailbox(L, s, "sender", "from", &c->sender.from, &c->sender.from_display,
	    &c->sender.from_address);
	load_mailbox(L, s, "sender", "reply_to", &c->sender.reply_to,
	    &c->sender.reply_to_display, &c->sender.reply_to_address);
	check_template(L, line_of(config_setting_get_member(s, "subject")),
	    "sender.subject", c->sender.subject);
	if (c->sender.admin == NULL && c->sender.from_address != NULL)
		c->sender.admin = xstrdup(c->sender.from_address);
	else if (c->sender.admin != NULL && !address_valid(c->sender.admin, why, sizeof(why)))
		report(L, line_of(config_setting_get_member(s, "admin")), "sender.admin",
		    "'%s' is not an e-mail address: %s", c->sender.admin, why);
}

static void
load_numbers(struct loader *L, config_setting_t *root)
{
	static const char *const retry_known[] = { "min_backoff", "max_backoff",
		"lifetime", NULL };
	static const char *const limits_known[] = { "max_issue_bytes",
		"max_attachments", "max_group_depth", "max_group_addresses", NULL };
	static const char *const alerts_known[] = { "deferred_after", NULL };
	static const char *const compose_known[] = { "max_header_names", NULL };
	struct conf *c = L->c;
	config_setting_t *m = get_group(L, root, "compose", "");
	config_setting_t *r = get_group(L, root, "retry", "");
	config_setting_t *l = get_group(L, root, "limits", "");
	config_setting_t *a = get_group(L, root, "alerts", "");

	if (m != NULL) {
		check_known(L, m, "compose", compose_known);
		get_int(L, m, "max_header_names", "compose", &c->compose.max_header_names,
		    1, 100000);
	}
	if (a != NULL) {
		check_known(L, a, "alerts", alerts_known);
		get_long(L, a, "deferred_after", "alerts", &c->alerts.deferred_after,
		    1, 60 * 86400);
	}

	if (r != NULL) {
		check_known(L, r, "retry", retry_known);
		get_long(L, r, "min_backoff", "retry", &c->retry.min_backoff, 1, 86400);
		get_long(L, r, "max_backoff", "retry", &c->retry.max_backoff, 1, 7 * 86400);
		get_long(L, r, "lifetime", "retry", &c->retry.lifetime, 1, 60 * 86400);
		if (c->retry.max_backoff < c->retry.min_backoff)
			report(L, line_of(config_setting_get_member(r, "max_backoff")),
			    "retry.max_backoff", "%ld is below retry.min_backoff (%ld)",
			    c->retry.max_backoff, c->retry.min_backoff);
	}
	if (l != NULL) {
		check_known(L, l, "limits", limits_known);
		get_long(L, l, "max_issue_bytes", "limits", &c->limits.max_issue_bytes,
		    1024, 1L << 30);
		get_int(L, l, "max_attachments", "limits", &c->limits.max_attachments,
		    0, 1000);
		get_int(L, l, "max_group_depth", "limits", &c->limits.max_group_depth,
		    1, 1000);
		get_long(L, l, "max_group_addresses", "limits",
		    &c->limits.max_group_addresses, 1, 10000000);
	}
}

/*
 * A span of time: a whole number of seconds, like every other duration
 * here, or a string with a unit ("400d", "12h", "30m", "1s"), because a
 * retention of 34560000 seconds says nothing to whoever reads it; "never"
 * (or 0) switches retention off. Nothing below a second, nothing beyond
 * 100 years (a number that large is a typo).
 */
static void
get_span(struct loader *L, config_setting_t *parent, const char *name,
    const char *path, long *dst)
{
	static const long max = 100L * 366 * 86400;
	config_setting_t *s = config_setting_get_member(parent, name);
	char *p;

	if (s == NULL)
		return;
	p = join_path(path, name);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		free(p);
		get_long(L, parent, name, path, dst, 0, max);
		return;
	}
	const char *v = config_setting_get_string(s);
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	long unit = 0;
	if (strcmp(v, "never") == 0) {
		*dst = 0;
		free(p);
		return;
	}
	if (end != v && errno == 0 && n >= 0 && end[0] != '\0' && end[1] == '\0')
		unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 :
		    end[0] == 'd' ? 86400 : 0;
	if (unit == 0 || *v < '0' || *v > '9')
		report(L, line_of(s), p, "'%s' is not a span of time (expected a number "
		    "with s, m, h or d, e.g. \"400d\", or \"never\")", v);
	else if (n > max / unit)
		report(L, line_of(s), p, "'%s' is out of range (expected at most 100 years)", v);
	else
		*dst = (long)(n * unit);
	free(p);
}

static void
load_retention(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "history", NULL };
	config_setting_t *r = get_group(L, root, "retention", "");

	if (r == NULL)
		return;
	check_known(L, r, "retention", known);
	get_span(L, r, "history", "retention", &L->c->retention.history);
}

/*
 * receipt = "request" | "none" of a tier or series entry e (path p); left
 * as it is when not set. Anything else is refused naming the words allowed.
 */
static void
get_receipt(struct loader *L, config_setting_t *e, const char *p, enum conf_receipt *dst)
{
	config_setting_t *s = config_setting_get_member(e, "receipt");
	char *v = NULL;

	if (s == NULL)
		return;
	get_string(L, e, "receipt", p, &v);
	if (v != NULL && strcmp(v, "request") == 0) {
		*dst = CONF_RECEIPT_REQUEST;
	} else if (v != NULL && strcmp(v, "none") == 0) {
		*dst = CONF_RECEIPT_NONE;
	} else if (v != NULL && *v != '\0') {
		char *rp = join_path(p, "receipt");
		report(L, line_of(s), rp, "'%s': expected \"request\" (ask the recipients "
		    "to confirm receipt) or \"none\"", v);
		free(rp);
	}
	free(v);
}

static void
load_tiers(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "keyword", "aliases", "header", "receipt",
		NULL };
	struct conf *c = L->c;
	config_setting_t *list = get_list(L, root, "tiers");

	if (list == NULL)
		return;	/* the defaults stay */
	for (size_t i = 0; i < c->n_tiers; i++) {
		free(c->tiers[i].keyword);
		free_list(c->tiers[i].aliases, c->tiers[i].n_aliases);
	}
	free(c->tiers);
	c->n_tiers = (size_t)config_setting_length(list);
	c->tiers = xcalloc(c->n_tiers, sizeof(*c->tiers));
	if (c->n_tiers == 0)
		report(L, line_of(list), "tiers", "the list is empty: define at "
		    "least one tier");
	for (size_t i = 0; i < c->n_tiers; i++) {
		struct conf_tier *t = &c->tiers[i];
		char *p = index_path("tiers", (int)i), *header = NULL;
		config_setting_t *e = list_elem(L, list, (int)i, p);

		t->header = CONF_HEADER_TO;
		if (e != NULL) {
			check_known(L, e, p, known);
			get_string(L, e, "keyword", p, &t->keyword);
			get_string_list(L, e, "aliases", p, &t->aliases, &t->n_aliases);
			get_string(L, e, "header", p, &header);
			get_receipt(L, e, p, &t->receipt);
			if (t->keyword == NULL)
				report(L, line_of(e), p, "missing keyword (e.g. \"报\")");
			if (header == NULL || strcmp(header, "to") == 0)
				t->header = CONF_HEADER_TO;
			else if (strcmp(header, "cc") == 0)
				t->header = CONF_HEADER_CC;
			else if (strcmp(header, "bcc") == 0)
				t->header = CONF_HEADER_BCC;
			else
				report(L, line_of(config_setting_get_member(e, "header")),
				    p, "header '%s': expected \"to\", \"cc\" or \"bcc\"",
				    header);
		}
		if (t->keyword == NULL)
			t->keyword = xstrdup("?");
		free(header);
		free(p);
	}
}

static void
load_recipients(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "name", "aliases", "display",
		"address", NULL };
	struct conf *c = L->c;
	config_setting_t *list = get_list(L, root, "recipients");
	char why[256];

	if (list == NULL || config_setting_length(list) == 0) {
		report(L, line_of(list), "recipients", "no recipients: define at least one");
		return;
	}
	c->n_recipients = (size_t)config_setting_length(list);
	c->recipients = xcalloc(c->n_recipients, sizeof(*c->recipients));
	for (size_t i = 0; i < c->n_recipients; i++) {
		struct conf_recipient *r = &c->recipients[i];
		char *p = index_path("recipients", (int)i);
		config_setting_t *e = list_elem(L, list, (int)i, p);

		if (e != NULL) {
			r->line = line_of(e);
			check_known(L, e, p, known);
			get_string(L, e, "name", p, &r->name);
			get_string_list(L, e, "aliases", p, &r->aliases, &r->n_aliases);
			get_string(L, e, "display", p, &r->display);
			get_string_list(L, e, "address", p, &r->addresses, &r->n_addresses);
			if (r->name == NULL)
				report(L, line_of(e), p, "missing name");
			if (r->n_addresses == 0)
				report(L, line_of(e), p, "missing address");
			config_setting_t *as = config_setting_get_member(e, "address");
			for (size_t j = 0; j < r->n_addresses; j++) {
				if (address_valid(r->addresses[j], why, sizeof(why)))
					continue;
				char *ap = join_path(p, "address"), *ip = index_path(ap, (int)j);
				config_setting_t *ae = as && config_setting_is_aggregate(as) ?
				    config_setting_get_elem(as, (unsigned)j) : as;
				report(L, line_of(ae ? ae : e), ip,
				    "'%s' is not an e-mail address: %s", r->addresses[j], why);
				free(ip);
				free(ap);
			}
		}
		if (r->name == NULL)
			r->name = xstrdup("?");
		if (r->display == NULL)
			r->display = xstrdup(r->name);
		free(p);
	}
}

static void
load_groups(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "name", "aliases", "members", NULL };
	struct conf *c = L->c;
	config_setting_t *list = get_list(L, root, "groups");

	if (list == NULL)
		return;
	c->n_groups = (size_t)config_setting_length(list);
	c->groups = xcalloc(c->n_groups, sizeof(*c->groups));
	for (size_t i = 0; i < c->n_groups; i++) {
		struct conf_group *g = &c->groups[i];
		char *p = index_path("groups", (int)i);
		config_setting_t *e = list_elem(L, list, (int)i, p);

		if (e != NULL) {
			g->line = line_of(e);
			check_known(L, e, p, known);
			get_string(L, e, "name", p, &g->name);
			get_string_list(L, e, "aliases", p, &g->aliases, &g->n_aliases);
			get_string_list(L, e, "members", p, &g->members, &g->n_members);
			if (g->name == NULL)
				report(L, line_of(e), p, "missing name");
			if (g->n_members == 0)
				report(L, line_of(e), p, "no members");
		}
		if (g->name == NULL)
			g->name = xstrdup("?");
		free(p);
	}
}

static void
load_series(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "title", "tiers", "from", "reply_to",
		"subject", "admin", "receipt", NULL };
	static const char *const tier_known[] = { "tier", "units", NULL };
	char why[256];
	struct conf *c = L->c;
	config_setting_t *list = get_list(L, root, "series");

	if (list == NULL)
		return;
	c->n_series = (size_t)config_setting_length(list);
	c->series = xcalloc(c->n_series, sizeof(*c->series));
	for (size_t i = 0; i < c->n_series; i++) {
		struct conf_series *s = &c->series[i];
		char *p = index_path("series", (int)i);
		config_setting_t *e = list_elem(L, list, (int)i, p);

		if (e != NULL) {
			check_known(L, e, p, known);
			get_string(L, e, "title", p, &s->title);
			if (s->title == NULL)
				report(L, line_of(e), p, "missing title");
			/* who sends this series: each setting falls back to sender's */
			load_mailbox(L, e, p, "from", &s->from, &s->from_display,
			    &s->from_address);
			load_mailbox(L, e, p, "reply_to", &s->reply_to, &s->reply_to_display,
			    &s->reply_to_address);
			get_string(L, e, "subject", p, &s->subject);
			if (s->subject != NULL) {
				char *sp = join_path(p, "subject");
				check_template(L, line_of(config_setting_get_member(e,
				    "subject")), sp, s->subject);
				free(sp);
			}
			get_string(L, e, "admin", p, &s->admin);
			if (s->admin != NULL && !address_valid(s->admin, why, sizeof(why))) {
				char *ap = join_path(p, "admin");
				report(L, line_of(config_setting_get_member(e, "admin")), ap,
				    "'%s' is not an e-mail address: %s", s->admin, why);
				free(ap);
			}
			get_receipt(L, e, p, &s->receipt);
			char *tp = join_path(p, "tiers");
			config_setting_t *tl = config_setting_get_member(e, "tiers");
			/* receipt alone is enough too: issues print their tiers */
			bool sets_identity = s->from || s->reply_to || s->subject || s->admin ||
			    config_setting_get_member(e, "receipt") != NULL;
			if (tl == NULL && sets_identity) {
				/* an entry only for who sends: issues print their tiers */
			} else if (tl == NULL || !config_setting_is_list(tl) ||
			    config_setting_length(tl) == 0) {
				report(L, line_of(tl ? tl : e), tp, "expected a list "
				    "( { tier = \"报\"; units = [ … ]; }, … )");
			} else {
				s->n_tiers = (size_t)config_setting_length(tl);
				s->tiers = xcalloc(s->n_tiers, sizeof(*s->tiers));
				for (size_t j = 0; j < s->n_tiers; j++) {
					struct conf_series_tier *st = &s->tiers[j];
					char *sp = index_path(tp, (int)j);
					config_setting_t *te = list_elem(L, tl, (int)j, sp);
					if (te != NULL) {
						check_known(L, te, sp, tier_known);
						get_string(L, te, "tier", sp, &st->tier);
						get_string_list(L, te, "units", sp, &st->units,
						    &st->n_units);
						if (st->tier == NULL)
							report(L, line_of(te), sp, "missing tier");
						else if (conf_tier_index(c, st->tier) < 0)
							report(L, line_of(te), sp, "tier '%s' is "
							    "not defined in tiers", st->tier);
						if (st->n_units == 0)
							report(L, line_of(te), sp, "no units");
					}
					if (st->tier == NULL)
						st->tier = xstrdup("?");
					free(sp);
				}
			}
			free(tp);
		}
		if (s->title == NULL)
			s->title = xstrdup("?");
		free(p);
	}
}

/*
 * classification = { extra_marks = ( { mark = "内部"; action = "refuse"; } ); };
 * The built-in marks (秘密, 机密, 绝密) are always refused; these only add.
 */
static void
load_classification(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "extra_marks", NULL };
	static const char *const mark_known[] = { "mark", "action", NULL };
	struct conf *c = L->c;
	config_setting_t *g = get_group(L, root, "classification", "");
	config_setting_t *list;

	if (g == NULL)
		return;
	check_known(L, g, "classification", known);
	list = config_setting_get_member(g, "extra_marks");
	if (list == NULL)
		return;
	if (!config_setting_is_list(list)) {
		report(L, line_of(list), "classification.extra_marks",
		    "expected a list ( { mark = \"…\"; action = \"refuse\"; }, … )");
		return;
	}
	c->n_extra_marks = (size_t)config_setting_length(list);
	c->extra_marks = xcalloc(c->n_extra_marks + 1, sizeof(*c->extra_marks));
	for (size_t i = 0; i < c->n_extra_marks; i++) {
		struct conf_mark *m = &c->extra_marks[i];
		char *p = index_path("classification.extra_marks", (int)i), *action = NULL;
		config_setting_t *e = list_elem(L, list, (int)i, p);

		if (e != NULL) {
			check_known(L, e, p, mark_known);
			get_string(L, e, "mark", p, &m->mark);
			get_string(L, e, "action", p, &action);
			if (m->mark == NULL || *m->mark == '\0')
				report(L, line_of(e), p, "missing mark");
			if (action == NULL || strcmp(action, "refuse") == 0)
				m->action = CONF_MARK_REFUSE;
			else if (strcmp(action, "hold") == 0)
				m->action = CONF_MARK_HOLD;
			else
				report(L, line_of(config_setting_get_member(e, "action")),
				    p, "action '%s': expected \"refuse\" or \"hold\"", action);
		}
		if (m->mark == NULL)
			m->mark = xstrdup("?");
		free(action);
		free(p);
	}
}

/* ---- derived indexes and cross-field rules ------------------------------ */

struct name_origin {
	struct conf_name name;
	char *what;	/* "recipients[3].aliases[1]" for messages */
	size_t seq;	/* definition order: recipients, then groups */
	int line;
};

static int
cmp_origin(const void *a, const void *b)
{
	const struct name_origin *x = a, *y = b;
	int r = strcmp(x->name.key, y->name.key);

	/* ties in definition order, so the second definition is the one reported */
	return r ? r : x->seq < y->seq ? -1 : 1;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct conf_name *)a)->key,
	    ((const struct conf_name *)b)->key);
}

static void
add_origin(struct name_origin **o, size_t *n, size_t *cap, const char *text,
    const struct conf_recipient *r, const struct conf_group *g, char *what)
{
	int line = r ? r->line : g->line;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*o = xreallocarray(*o, *cap, sizeof(**o));
	}
	(*o)[*n].name.key = text_key(text);
	(*o)[*n].name.recipient = r;
	(*o)[*n].name.group = g;
	(*o)[*n].what = what;
	(*o)[*n].seq = *n;
	(*o)[*n].line = line;
	(*n)++;
}

static char *
fmt_path(const char *kind, size_t i, const char *sub, size_t j)
{
	struct sbuf b = SBUF_INIT;

	if (sub)
		sbuf_printf(&b, "%s[%zu].%s[%zu]", kind, i, sub, j);
	else
		sbuf_printf(&b, "%s[%zu].name", kind, i);
	return sbuf_steal(&b);
}

static void
build_names(struct loader *L)
{
	struct conf *c = L->c;
	struct name_origin *o = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < c->n_recipients; i++) {
		const struct conf_recipient *r = &c->recipients[i];
		add_origin(&o, &n, &cap, r->name, r, NULL, fmt_path("recipients", i, NULL, 0));
		for (size_t j = 0; j < r->n_aliases; j++)
			add_origin(&o, &n, &cap, r->aliases[j], r, NULL,
			    fmt_path("recipients", i, "aliases", j));
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct conf_group *g = &c->groups[i];
		add_origin(&o, &n, &cap, g->name, NULL, g, fmt_path("groups", i, NULL, 0));
		for (size_t j = 0; j < g->n_aliases; j++)
			add_origin(&o, &n, &cap, g->aliases[j], NULL, g,
			    fmt_path("groups", i, "aliases", j));
	}
	if (n > 0)
		qsort(o, n, sizeof(*o), cmp_origin);
	c->names = xcalloc(n, sizeof(*c->names));
	for (size_t i = 0; i < n; i++) {
		if (c->n_names > 0 && strcmp(c->names[c->n_names - 1].key, o[i].name.key) == 0) {
			/* the same name twice: the later definition is blamed */
			report(L, o[i].line, o[i].what, "'%s' is already defined by %s "
			    "(line %d); a unit must name exactly one recipient or group",
			    o[i].name.key, o[i - 1].what, o[i - 1].line);
			free(o[i].name.key);
		} else {
			c->names[c->n_names++] = o[i].name;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(o[i].what);
	free(o);
}

/*
 * Group checks. A directory is admin input and may be hostile or just
 * careless: a chain of 200 000 groups, diamonds whose paths double at
 * every level. So nothing here recurses (an explicit stack of at most
 * every group once), every walk visits a group once, and how deep groups
 * nest and how many addresses one reaches are bounded (limits.*), which
 * is what keeps route_resolve fast on any directory conf_load accepts.
 */

/* How many groups one kind of error names before it counts the rest. */
#define GROUP_REPORTS_MAX 10
/* How many names of a cycle are printed before it is cut. */
#define CYCLE_NAMES_MAX 12

struct group_frame {
	size_t gi;	/* index into c->groups */
	size_t next;	/* the member to look at next */
};

static size_t
add_capped(size_t a, size_t b, size_t cap)
{
	return a >= cap || b >= cap || a + b >= cap ? cap : a + b;
}

/* "甲 → 乙 → 丙 → 甲", the middle cut when the cycle is long. */
static void
report_cycle(struct loader *L, const struct group_frame *stack, size_t from, size_t sp)
{
	const struct conf *c = L->c;
	struct sbuf cycle = SBUF_INIT;
	size_t n = sp - from;
	const struct conf_group *g = &c->groups[stack[from].gi];

	for (size_t i = 0; i < n; i++) {
		if (n > CYCLE_NAMES_MAX && i == CYCLE_NAMES_MAX / 2) {
			sbuf_printf(&cycle, "… (%zu more) … → ", n - CYCLE_NAMES_MAX);
			i = n - CYCLE_NAMES_MAX / 2;
		}
		sbuf_printf(&cycle, "%s → ", c->groups[stack[from + i].gi].name);
	}
	sbuf_puts(&cycle, g->name);
	report(L, g->line, "groups", "cycle: %s", sbuf_str(&cycle));
	sbuf_free(&cycle);
}

/*
 * One depth-first pass over every group: finds a cycle (reported, and
 * the pass stops: one is enough to act on), else leaves in order[] the
 * groups children first, in depth[] how many levels each nests and in
 * reach[] an upper bound of the addresses it reaches (paths counted, so
 * it may count one address many times; capped). Returns 0, or -1 on a
 * cycle.
 */
static int
walk_groups(struct loader *L, size_t *order, size_t *depth, size_t *reach, size_t cap)
{
	const struct conf *c = L->c;
	size_t ng = c->n_groups, no = 0;
	unsigned char *state = xcalloc(ng + 1, 1);	/* 1 on the stack, 2 done */
	struct group_frame *stack = xcalloc(ng + 1, sizeof(*stack));
	int rc = 0;

	for (size_t root = 0; root < ng && rc == 0; root++) {
		size_t sp = 0;
		if (state[root])
			continue;
		state[root] = 1;
		stack[sp++] = (struct group_frame){ root, 0 };
		while (sp > 0 && rc == 0) {
			struct group_frame *f = &stack[sp - 1];
			const struct conf_group *g = &c->groups[f->gi];
			if (f->next == g->n_members) {
				size_t gi = f->gi;
				state[gi] = 2;
				depth[gi]++;	/* its own level over its deepest member */
				order[no++] = gi;
				if (--sp > 0) {
					size_t pi = stack[sp - 1].gi;
					if (depth[gi] > depth[pi])
						depth[pi] = depth[gi];
					reach[pi] = add_capped(reach[pi], reach[gi], cap);
				}
				continue;
			}
			const struct conf_name *m = g->member_refs[f->next++];
			if (m == NULL)
				continue;
			if (m->recipient != NULL) {
				reach[f->gi] = add_capped(reach[f->gi],
				    m->recipient->n_addresses, cap);
				continue;
			}
			size_t ci = (size_t)(m->group - c->groups);
			if (state[ci] == 0) {
				state[ci] = 1;
				stack[sp++] = (struct group_frame){ ci, 0 };
			} else if (state[ci] == 1) {
				size_t from = sp - 1;
				while (stack[from].gi != ci)
					from--;
				report_cycle(L, stack, from, sp);
				rc = -1;
			} else {
				if (depth[ci] > depth[f->gi])
					depth[f->gi] = depth[ci];
				reach[f->gi] = add_capped(reach[f->gi], reach[ci], cap);
			}
		}
	}
	free(state);
	free(stack);
	return rc;
}

/*
 * The distinct addresses group gi reaches, counted up to limit + 1: a
 * walk that visits every group and recipient once (marks of generation
 * gen), stopping as soon as the limit is passed. *steps is what the walk
 * cost: the member entries it read.
 */
static size_t
count_addresses(const struct conf *c, size_t gi, size_t limit, unsigned gen,
    unsigned *group_mark, unsigned *rcpt_mark, struct group_frame *stack,
    size_t *steps)
{
	size_t sp = 0, n = 0;

	group_mark[gi] = gen;
	stack[sp++] = (struct group_frame){ gi, 0 };
	while (sp > 0 && n <= limit) {
		struct group_frame *f = &stack[sp - 1];
		const struct conf_group *g = &c->groups[f->gi];
		if (f->next == g->n_members) {
			sp--;
			continue;
		}
		const struct conf_name *m = g->member_refs[f->next++];
		(*steps)++;
		if (m == NULL)
			continue;
		if (m->recipient != NULL) {
			size_t ri = (size_t)(m->recipient - c->recipients);
			if (rcpt_mark[ri] != gen) {
				rcpt_mark[ri] = gen;
				n += m->recipient->n_addresses;
			}
			continue;
		}
		size_t ci = (size_t)(m->group - c->groups);
		if (group_mark[ci] != gen) {
			group_mark[ci] = gen;
			stack[sp++] = (struct group_frame){ ci, 0 };
		}
	}
	return n;
}

static void
report_more(struct loader *L, size_t n, const char *what)
{
	if (n > GROUP_REPORTS_MAX)
		report(L, 0, "groups", "%zu more group%s %s (not listed)",
		    n - GROUP_REPORTS_MAX, n - GROUP_REPORTS_MAX == 1 ? "" : "s", what);
}

/* Groups nested deeper than limits.max_group_depth: the outermost ones. */
static void
check_depth(struct loader *L, const size_t *depth)
{
	const struct conf *c = L->c;
	size_t max = (size_t)c->limits.max_group_depth, n = 0;
	unsigned char *inside = xcalloc(c->n_groups + 1, 1);

	/* a too-deep group inside another too-deep one is said by its outer group */
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct conf_group *g = &c->groups[i];
		if (depth[i] <= max)
			continue;
		for (size_t j = 0; j < g->n_members; j++)
			if (g->member_refs[j] != NULL && g->member_refs[j]->group != NULL)
				inside[g->member_refs[j]->group - c->groups] = 1;
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		if (depth[i] <= max || inside[i])
			continue;
		if (++n <= GROUP_REPORTS_MAX) {
			char *p = index_path("groups", (int)i);
			report(L, c->groups[i].line, p, "'%s' nests groups %zu levels deep; "
			    "the limit is %zu (limits.max_group_depth)", c->groups[i].name,
			    depth[i], max);
			free(p);
		}
	}
	report_more(L, n, "nested too deep");
	free(inside);
}

/*
 * Groups reaching more than limits.max_group_addresses addresses. Exact
 * counts are only taken where the cheap upper bound passes the limit, and
 * a group holding a group already too large is too large without a count;
 * only the innermost such groups are named.
 *
 * What routing may cost is bounded too: a footer naming every group walks
 * each once, and a walk reads every member entry of what the group nests.
 * Where the upper bound is within the limit it bounds that walk as well
 * (every entry lies on some path to an address); elsewhere the exact
 * count's walk is measured. The sum over all groups must stay within
 * GROUP_WORK_MAX, which also bounds this check: wide levels of groups that
 * each hold every group of the level below are refused here, in bounded
 * time, instead of costing seconds in every reload and every route.
 */
#define GROUP_WORK_MAX ((size_t)50000000)

static void
check_size(struct loader *L, const size_t *order, const size_t *depth,
    const size_t *reach)
{
	const struct conf *c = L->c;
	size_t ng = c->n_groups, limit = (size_t)c->limits.max_group_addresses, n = 0;
	size_t work = 0;
	unsigned char *over = xcalloc(ng + 1, 1);
	unsigned *group_mark = xcalloc(ng + 1, sizeof(unsigned));
	unsigned *rcpt_mark = xcalloc(c->n_recipients + 1, sizeof(unsigned));
	struct group_frame *stack = xcalloc(ng + 1, sizeof(*stack));
	unsigned gen = 0;

	for (size_t k = 0; k < ng; k++) {
		size_t gi = order[k];
		const struct conf_group *g = &c->groups[gi];
		if (depth[gi] > (size_t)c->limits.max_group_depth)
			continue;	/* refused already, and its bound may be huge */
		if (reach[gi] <= limit) {
			work += reach[gi] + g->n_members;
		} else {
			for (size_t j = 0; j < g->n_members && !over[gi]; j++)
				if (g->member_refs[j] != NULL &&
				    g->member_refs[j]->group != NULL &&
				    over[g->member_refs[j]->group - c->groups])
					over[gi] = 2;	/* said by its member */
			if (over[gi])
				continue;
			size_t steps = 0;
			size_t found = count_addresses(c, gi, limit, ++gen, group_mark,
			    rcpt_mark, stack, &steps);
			work += steps;
			if (found > limit) {
				over[gi] = 1;
				if (++n <= GROUP_REPORTS_MAX) {
					char *p = index_path("groups", (int)gi);
					report(L, g->line, p, "'%s' reaches more than %zu "
					    "addresses (limits.max_group_addresses)", g->name,
					    limit);
					free(p);
				}
			}
		}
		if (work > GROUP_WORK_MAX) {
			char *p = index_path("groups", (int)gi);
			report(L, g->line, p, "'%s': with this group, expanding every group "
			    "once reads more than %zu member entries (groups holding "
			    "many groups that overlap); nest the groups with less "
			    "overlap", g->name, GROUP_WORK_MAX);
			free(p);
			break;
		}
	}
	report_more(L, n, "reach too many addresses");
	free(over);
	free(group_mark);
	free(rcpt_mark);
	free(stack);
}

static void
check_groups(struct loader *L)
{
	struct conf *c = L->c;
	size_t ng = c->n_groups;

	/* members are resolved once, here: the walks below and routing use them */
	for (size_t i = 0; i < ng; i++) {
		struct conf_group *g = &c->groups[i];
		g->member_refs = xcalloc(g->n_members + 1, sizeof(*g->member_refs));
		for (size_t j = 0; j < g->n_members; j++) {
			char *key = text_key(g->members[j]);
			g->member_refs[j] = conf_lookup(c, key);
			if (g->member_refs[j] == NULL)
				report(L, g->line, NULL, "groups[%zu].members[%zu]: '%s' is "
				    "neither a recipient nor a group", i, j, g->members[j]);
			free(key);
		}
	}
	size_t *order = xcalloc(ng + 1, sizeof(size_t));
	size_t *depth = xcalloc(ng + 1, sizeof(size_t));
	size_t *reach = xcalloc(ng + 1, sizeof(size_t));
	if (walk_groups(L, order, depth, reach,
	    (size_t)c->limits.max_group_addresses + 1) == 0) {
		check_depth(L, depth);
		check_size(L, order, depth, reach);
	}
	free(order);
	free(depth);
	free(reach);
}

static void
add_label(struct conf *c, size_t *cap, const char *label, const char *keyword)
{
	if (c->n_labels == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		c->labels = xreallocarray(c->labels, *cap, sizeof(*c->labels));
	}
	c->labels[c->n_labels].label = label;
	c->labels[c->n_labels].keyword = keyword;
	c->n_labels++;
}

/*
 * The parser's label table: the configured keywords and aliases, then the
 * built-in labels the configuration does not mention. A bulletin using a
 * label the configuration does not define must still be seen as a tier,
 * so that routing can refuse it instead of mailing it as body text.
 */
static void
build_labels(struct loader *L)
{
	struct conf *c = L->c;
	size_t cap = 0;

	for (size_t i = 0; i < c->n_tiers; i++) {
		const struct conf_tier *t = &c->tiers[i];
		add_label(c, &cap, t->keyword, t->keyword);
		for (size_t j = 0; j < t->n_aliases; j++)
			add_label(c, &cap, t->aliases[j], t->keyword);
	}
	/* keyword/alias clashes across tiers */
	for (size_t i = 0; i < c->n_labels; i++) {
		char *ki = text_key(c->labels[i].label);
		for (size_t j = 0; j < i; j++) {
			char *kj = text_key(c->labels[j].label);
			if (strcmp(ki, kj) == 0)
				report(L, 0, "tiers", "'%s' names two tiers (%s and %s)",
				    c->labels[i].label, c->labels[j].keyword,
				    c->labels[i].keyword);
			free(kj);
		}
		free(ki);
	}
	for (size_t i = 0; i < bulletin_default_labels_count; i++)
		if (conf_tier_index(c, bulletin_default_labels[i].label) < 0)
			add_label(c, &cap, bulletin_default_labels[i].label,
			    bulletin_default_labels[i].keyword);
}

/* ---- entry points ------------------------------------------------------ */

static void
set_defaults(struct conf *c)
{
	static const struct { const char *kw; const char *aliases[4]; enum conf_header h; } tiers[] = {
		{ "报", { "抄报", "呈报", "报送", "主报" }, CONF_HEADER_TO },
		{ "送", { "抄送", "分送", "主送", NULL }, CONF_HEADER_CC },
		{ "发", { "分发", "下发", "抄发", NULL }, CONF_HEADER_BCC },
	};

	c->outbox = xstrdup("/var/spool/distd/outbox");
	c->archive = xstrdup("/var/spool/distd/archive");
	c->rejected = xstrdup("/var/spool/distd/rejected");
	c->state = xstrdup("/var/lib/distd/queue.db");
	c->delivery_log = xstrdup("/var/log/distd/delivery.log");
	c->control_socket = xstrdup("/run/distd/control");
	c->smtp.connections = 4;
	c->smtp.max_rcpt_per_message = 50;
	c->smtp.timeout = 60;
	c->smtp.idle_timeout = 60;
	c->alerts.deferred_after = 3600;
	c->sender.subject = xstrdup("%title% 第%issue%期");
	c->retry.min_backoff = 300;
	c->retry.max_backoff = 3600;
	c->retry.lifetime = 432000;
	c->retention.history = CONF_RETENTION_DEFAULT;
	c->on_unresolved = CONF_UNRESOLVED_HOLD;
	c->outbox_settle = 5;
	c->shutdown_timeout = 20;
	c->node_lease = 30;
	c->feedback.interval = 300;
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[strcspn(host, ".")] = '\0';	/* the short name */
	c->node = xstrdup(host);
	c->limits.max_issue_bytes = 20L << 20;
	c->limits.max_attachments = 16;
	c->compose.max_header_names = 100;
	c->limits.max_group_depth = CONF_MAX_GROUP_DEPTH;
	c->limits.max_group_addresses = CONF_MAX_GROUP_ADDRESSES;
	c->n_tiers = 3;
	c->tiers = xcalloc(3, sizeof(*c->tiers));
	for (size_t i = 0; i < 3; i++) {
		c->tiers[i].keyword = xstrdup(tiers[i].kw);
		c->tiers[i].header = tiers[i].h;
		c->tiers[i].aliases = xcalloc(4, sizeof(char *));
		for (size_t j = 0; j < 4 && tiers[i].aliases[j]; j++)
			c->tiers[i].aliases[c->tiers[i].n_aliases++] =
			    xstrdup(tiers[i].aliases[j]);
	}
}

int
conf_load(const char *path, int flags, struct conf **out, struct sbuf *errors)
{
	static const char *const known[] = { "outbox", "archive", "rejected",
		"state", "delivery_log", "control_socket", "smtp", "sender",
		"retry", "tiers", "recipients", "groups", "series",
		"on_unresolved", "limits", "classification", "alerts", "compose",
		"shutdown_timeout", "retention", "node", "feedback", NULL };
	struct loader L = { path, errors, 0, NULL, flags };
	config_t cfg;
	config_setting_t *root;
	char *on_unresolved = NULL;

	*out = NULL;
	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			sbuf_printf(errors, "%s: cannot read: %s\n", path,
			    strerror(errno ? errno : ENOENT));
		else
			sbuf_printf(errors, "%s:%d: %s\n",
			    config_error_file(&cfg) ? config_error_file(&cfg) : path,
			    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return -1;
	}
	L.c = xcalloc(1, sizeof(*L.c));
	L.c->path = xstrdup(path);
	set_defaults(L.c);
	root = config_root_setting(&cfg);
	check_known(&L, root, "", known);
	load_paths(&L, root);
	load_node(&L, root);
	load_smtp(&L, root);
	load_feedback(&L, root);
	load_sender(&L, root);
	load_numbers(&L, root);
	load_retention(&L, root);
	load_tiers(&L, root);
	build_labels(&L);
	load_recipients(&L, root);
	load_groups(&L, root);
	int before = L.n_errors;
	build_names(&L);
	if (L.n_errors == before)	/* members of duplicated names would mislead */
		check_groups(&L);
	load_series(&L, root);
	load_classification(&L, root);
	/* under systemd's TimeoutStopSec (60 s), with room for the last writes */
	get_long(&L, root, "shutdown_timeout", "", &L.c->shutdown_timeout, 1, 50);
	get_string(&L, root, "on_unresolved", "", &on_unresolved);
	if (on_unresolved == NULL || strcmp(on_unresolved, "hold") == 0)
		L.c->on_unresolved = CONF_UNRESOLVED_HOLD;
	else if (strcmp(on_unresolved, "send") == 0)
		L.c->on_unresolved = CONF_UNRESOLVED_SEND;
	else
		report(&L, line_of(config_setting_get_member(root, "on_unresolved")),
		    "on_unresolved", "'%s': expected \"hold\" or \"send\"", on_unresolved);
	free(on_unresolved);
	config_destroy(&cfg);

	if (L.n_errors > 0) {
		conf_free(L.c);
		return -1;
	}
	*out = L.c;
	return 0;
}

static void
free_strings(char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	for (char *s = first; s != (char *)-1; s = va_arg(ap, char *))
		free(s);
	va_end(ap);
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free_strings(c->path, c->node, c->outbox, c->archive, c->rejected, c->state,
	    c->delivery_log, c->control_socket, c->smtp.url, c->smtp.host,
	    c->smtp.username, c->smtp.password_file, c->smtp.ca_file,
	    c->smtp.pinned_pubkey, c->smtp.helo, c->smtp.fallback.url,
	    c->smtp.fallback.host, c->smtp.fallback.username,
	    c->smtp.fallback.password_file, c->smtp.fallback.ca_file,
	    c->smtp.fallback.pinned_pubkey, c->sender.from, c->sender.from_address,
	    c->sender.from_display, c->sender.subject, c->sender.admin,
	    c->sender.reply_to, c->sender.reply_to_display, c->sender.reply_to_address,
	    (char *)-1);
	free_strings(c->feedback.url, c->feedback.host, c->feedback.folder,
	    c->feedback.username, c->feedback.password_file, c->feedback.ca_file,
	    c->feedback.done_folder, c->feedback.address, (char *)-1);
	if (c->feedback.password != NULL) {
		explicit_bzero(c->feedback.password, strlen(c->feedback.password));
		free(c->feedback.password);
	}
	if (c->smtp.password != NULL) {
		explicit_bzero(c->smtp.password, strlen(c->smtp.password));
		free(c->smtp.password);
	}
	if (c->smtp.fallback.password != NULL) {
		explicit_bzero(c->smtp.fallback.password, strlen(c->smtp.fallback.password));
		free(c->smtp.fallback.password);
	}
	for (size_t i = 0; i < c->n_tiers; i++) {
		free(c->tiers[i].keyword);
		free_list(c->tiers[i].aliases, c->tiers[i].n_aliases);
	}
	free(c->tiers);
	for (size_t i = 0; i < c->n_recipients; i++) {
		struct conf_recipient *r = &c->recipients[i];
		free(r->name);
		free(r->display);
		free_list(r->aliases, r->n_aliases);
		free_list(r->addresses, r->n_addresses);
	}
	free(c->recipients);
	for (size_t i = 0; i < c->n_groups; i++) {
		free(c->groups[i].name);
		free_list(c->groups[i].aliases, c->groups[i].n_aliases);
		free_list(c->groups[i].members, c->groups[i].n_members);
		free(c->groups[i].member_refs);
	}
	free(c->groups);
	for (size_t i = 0; i < c->n_series; i++) {
		for (size_t j = 0; j < c->series[i].n_tiers; j++) {
			free(c->series[i].tiers[j].tier);
			free_list(c->series[i].tiers[j].units, c->series[i].tiers[j].n_units);
		}
		free(c->series[i].tiers);
		free_strings(c->series[i].title, c->series[i].from, c->series[i].from_display,
		    c->series[i].from_address, c->series[i].reply_to,
		    c->series[i].reply_to_display, c->series[i].reply_to_address,
		    c->series[i].subject, c->series[i].admin, (char *)-1);
	}
	free(c->series);
	for (size_t i = 0; i < c->n_extra_marks; i++)
		free(c->extra_marks[i].mark);
	free(c->extra_marks);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i].key);
	free(c->names);
	free(c->labels);
	free(c);
}

const struct conf_name *
conf_lookup(const struct conf *c, const char *key)
{
	struct conf_name k = { (char *)key, NULL, NULL };

	if (c->n_names == 0)
		return NULL;
	return bsearch(&k, c->names, c->n_names, sizeof(*c->names), cmp_name);
}

int
conf_tier_index(const struct conf *c, const char *label)
{
	char *key = text_key(label);
	int found = -1;

	for (size_t i = 0; i < c->n_tiers && found < 0; i++) {
		char *k = text_key(c->tiers[i].keyword);
		if (strcmp(k, key) == 0)
			found = (int)i;
		free(k);
		for (size_t j = 0; j < c->tiers[i].n_aliases && found < 0; j++) {
			k = text_key(c->tiers[i].aliases[j]);
			if (strcmp(k, key) == 0)
				found = (int)i;
			free(k);
		}
	}
	free(key);
	return found;
}

const char *
conf_header_name(enum conf_header h)
{
	return h == CONF_HEADER_TO ? "to" : h == CONF_HEADER_CC ? "cc" : "bcc";
}

const char *
conf_path(const char *from_option)
{
	const char *env = getenv("DISTD_CONF");

	if (from_option != NULL)
		return from_option;
	if (env != NULL && *env)
		return env;
	return CONF_DEFAULT_PATH;
}

const struct conf_series *
conf_series_find(const struct conf *c, const char *title)
{
	const struct conf_series *found = NULL;
	char *key;

	if (title == NULL)
		return NULL;
	key = text_key(title);
	for (size_t i = 0; i < c->n_series && found == NULL; i++) {
		char *k = text_key(c->series[i].title);
		if (strcmp(k, key) == 0)
			found = &c->series[i];
		free(k);
	}
	free(key);
	return found;
}

void
conf_identity(const struct conf *c, const char *title, struct conf_identity *out)
{
	const struct conf_series *s = conf_series_find(c, title);

	*out = (struct conf_identity){ c->sender.from_display, c->sender.from_address,
	    c->sender.reply_to_display, c->sender.reply_to_address, c->sender.subject,
	    c->sender.admin, false };
	if (s == NULL)
		return;
	/* a series' from comes with its own reply_to or none: the office's
	 * replies must not go to another office's mailbox */
	if (s->from_address != NULL) {
		out->from_display = s->from_display;
		out->from_address = s->from_address;
		out->reply_to_display = NULL;
		out->reply_to_address = NULL;
	}
	if (s->reply_to_address != NULL) {
		out->reply_to_display = s->reply_to_display;
		out->reply_to_address = s->reply_to_address;
	}
	if (s->subject != NULL)
		out->subject = s->subject;
	if (s->admin != NULL) {
		out->admin = s->admin;
		out->series_admin = true;
	}
}

const char *
conf_receipt_address(const struct conf *c, const char *title)
{
	struct conf_identity who;

	/* the mailbox distd reads, when it is not the sender's own */
	if (c->feedback.enabled && c->feedback.address != NULL)
		return c->feedback.address;
	conf_identity(c, title, &who);
	return who.from_address;
}
