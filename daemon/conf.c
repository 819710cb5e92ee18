#include "conf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "text.h"

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
		static const char *const known[] = { "path", "settle", NULL };
		check_known(L, ob, "outbox", known);
		get_string(L, ob, "path", "outbox", &c->outbox);
		get_long(L, ob, "settle", "outbox", &c->outbox_settle, 1, 3600);
		if (c->outbox[0] != '/')
			report(L, line_of(config_setting_get_member(ob, "path")),
			    "outbox.path", "'%s' is not an absolute path", c->outbox);
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (i == 0 && ob != NULL && config_setting_is_group(ob))
			continue;
		get_string(L, root, paths[i].name, "", paths[i].dst);
		if ((*paths[i].dst)[0] != '/')
			report(L, line_of(config_setting_get_member(root, paths[i].name)),
			    paths[i].name, "'%s' is not an absolute path", *paths[i].dst);
	}
}

static bool
is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
	    strcmp(host, "[::1]") == 0 || strncmp(host, "127.", 4) == 0;
}

/* smtps://host[:port][/ehlo-name] or smtp://… */
static void
parse_url(struct loader *L, config_setting_t *s)
{
	struct conf *c = L->c;
	const char *u = c->smtp.url, *host, *end;
	int line = line_of(s);

	if (strncmp(u, "smtps://", 8) == 0) {
		c->smtp.implicit_tls = true;
		host = u + 8;
		c->smtp.port = 465;
	} else if (strncmp(u, "smtp://", 7) == 0) {
		host = u + 7;
		c->smtp.port = 25;
	} else {
		report(L, line, "smtp.url", "'%s': expected smtps://HOST[:PORT] "
		    "(implicit TLS) or smtp://HOST[:PORT] (STARTTLS)", u);
		return;
	}
	if (*host == '[') {
		end = strchr(host, ']');
		end = end ? end + 1 : host + strlen(host);
	} else {
		end = host + strcspn(host, ":/");
	}
	if (end == host) {
		report(L, line, "smtp.url", "'%s': no host name", u);
		return;
	}
	c->smtp.host = xstrndup(host, (size_t)(end - host));
	if (*end == ':') {
		char *stop;
		long port = strtol(end + 1, &stop, 10);
		if (stop == end + 1 || port < 1 || port > 65535 ||
		    (*stop != '\0' && *stop != '/')) {
			report(L, line, "smtp.url", "'%s': bad port", u);
			return;
		}
		c->smtp.port = (int)port;
	}
}

static void
load_password(struct loader *L, config_setting_t *smtp)
{
	struct conf *c = L->c;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];
	const char *source = NULL;
	int line = line_of(config_setting_get_member(smtp, "password_file"));
	struct stat st;

	if (creds != NULL) {
		snprintf(path, sizeof(path), "%s/smtp-password", creds);
		if (access(path, F_OK) == 0)
			source = path;
	}
	if (source == NULL && c->smtp.password_file != NULL) {
		source = c->smtp.password_file;
		if (stat(source, &st) == 0) {
			/* Group read is a grant only root can make (root:distd
			 * 0640), so that the distd group's admins can run
			 * `distctl check`; anything wider is refused. */
			bool group_ok = st.st_uid == 0 &&
			    !(st.st_mode & (S_IWGRP | S_IXGRP));
			if ((st.st_mode & S_IRWXO) ||
			    ((st.st_mode & S_IRWXG) && !group_ok))
				report(L, line, "smtp.password_file", "%s is open to "
				    "group or others (mode %03o, owner uid %u); chmod 600 "
				    "it, or chown root:distd and chmod 640",
				    source, (unsigned)(st.st_mode & 0777),
				    (unsigned)st.st_uid);
		} else if (L->flags & CONF_LOAD_SECRETS) {
			report(L, line, "smtp.password_file", "%s: %s", source,
			    strerror(errno));
			return;
		}
	}
	if (!(L->flags & CONF_LOAD_SECRETS))
		return;
	if (source == NULL) {
		if (c->smtp.username != NULL)
			report(L, line_of(config_setting_get_member(smtp, "username")),
			    "smtp.username", "is set but there is no password: set "
			    "smtp.password_file or LoadCredential=smtp-password");
		return;
	}
	FILE *f = fopen(source, "re");
	if (f == NULL) {
		report(L, line, "smtp.password_file", "%s: %s", source, strerror(errno));
		return;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0')
		report(L, line, "smtp.password_file", "%s holds no password", source);
	else
		c->smtp.password = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
}

static void
load_smtp(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "url", "username", "password_file",
		"ca_file", "pinned_pubkey", "connections", "max_rcpt_per_message",
		"timeout", "tls", "password", NULL };
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
			    "a relay on 127.0.0.1, not %s", c->smtp.host);
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
}

static void
check_template(struct loader *L, int line, const char *t)
{
	static const char *const names[] = { "title", "issue", "total", "date",
		"issuer", NULL };

	for (const char *p = strchr(t, '%'); p; p = strchr(p, '%')) {
		const char *e = strchr(p + 1, '%');
		bool ok = false;
		if (e == NULL) {
			report(L, line, "sender.subject", "unmatched '%%' (write "
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
			report(L, line, "sender.subject", "unknown placeholder "
			    "'%.*s' (expected %%title%%, %%issue%%, %%total%%, "
			    "%%date%% or %%issuer%%)", (int)(e - p + 1), p);
		p = e + 1;
	}
}

static void
load_sender(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "from", "subject", "admin", NULL };
	struct conf *c = L->c;
	config_setting_t *s = get_group(L, root, "sender", "");
	char why[256];

	if (s == NULL) {
		report(L, 0, "sender", "missing: set at least sender.from");
		return;
	}
	check_known(L, s, "sender", known);
	get_string(L, s, "from", "sender", &c->sender.from);
	get_string(L, s, "subject", "sender", &c->sender.subject);
	get_string(L, s, "admin", "sender", &c->sender.admin);
	if (c->sender.from == NULL) {
		report(L, line_of(s), "sender.from", "missing (e.g. "
		    "\"Office <bulletin@example.test>\")");
	} else if (address_parse_mailbox(c->sender.from, &c->sender.from_display,
	    &c->sender.from_address, why, sizeof(why)) < 0) {
		report(L, line_of(config_setting_get_member(s, "from")), "sender.from",
		    "'%s' is not a mailbox: %s", c->sender.from, why);
	}
	check_template(L, line_of(config_setting_get_member(s, "subject")),
	    c->sender.subject);
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
		"max_attachments", NULL };
	struct conf *c = L->c;
	config_setting_t *r = get_group(L, root, "retry", "");
	config_setting_t *l = get_group(L, root, "limits", "");

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
	}
}

static void
load_tiers(struct loader *L, config_setting_t *root)
{
	static const char *const known[] = { "keyword", "aliases", "header", NULL };
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
	static const char *const known[] = { "title", "tiers", NULL };
	static const char *const tier_known[] = { "tier", "units", NULL };
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
			char *tp = join_path(p, "tiers");
			config_setting_t *tl = config_setting_get_member(e, "tiers");
			if (tl == NULL || !config_setting_is_list(tl) ||
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

/* Depth-first walk over groups; state 1 = on the current path, 2 = done. */
static bool
visit_group(struct loader *L, const struct conf_group *g, unsigned char *state,
    const struct conf_group **stack, size_t depth)
{
	struct conf *c = L->c;
	size_t gi = (size_t)(g - c->groups);

	if (state[gi] == 2)
		return true;
	if (state[gi] == 1) {
		struct sbuf cycle = SBUF_INIT;
		size_t from = 0;
		while (stack[from] != g)
			from++;
		for (size_t i = from; i < depth; i++)
			sbuf_printf(&cycle, "%s → ", stack[i]->name);
		sbuf_puts(&cycle, g->name);
		report(L, g->line, "groups", "cycle: %s", sbuf_str(&cycle));
		sbuf_free(&cycle);
		return false;
	}
	state[gi] = 1;
	stack[depth] = g;
	for (size_t i = 0; i < g->n_members; i++) {
		char *key = text_key(g->members[i]);
		const struct conf_name *m = conf_lookup(c, key);
		free(key);
		if (m != NULL && m->group != NULL &&
		    !visit_group(L, m->group, state, stack, depth + 1)) {
			state[gi] = 2;
			return false;
		}
	}
	state[gi] = 2;
	return true;
}

static void
check_groups(struct loader *L)
{
	struct conf *c = L->c;

	for (size_t i = 0; i < c->n_groups; i++) {
		const struct conf_group *g = &c->groups[i];
		for (size_t j = 0; j < g->n_members; j++) {
			char *key = text_key(g->members[j]);
			if (conf_lookup(c, key) == NULL)
				report(L, g->line, NULL, "groups[%zu].members[%zu]: '%s' is "
				    "neither a recipient nor a group", i, j, g->members[j]);
			free(key);
		}
	}
	unsigned char *state = xcalloc(c->n_groups + 1, 1);
	const struct conf_group **stack = xcalloc(c->n_groups + 1, sizeof(*stack));
	for (size_t i = 0; i < c->n_groups; i++)
		if (!visit_group(L, &c->groups[i], state, stack, 0))
			break;	/* one cycle report is enough to act on */
	free(state);
	free(stack);
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
	c->sender.subject = xstrdup("%title% 第%issue%期");
	c->retry.min_backoff = 300;
	c->retry.max_backoff = 3600;
	c->retry.lifetime = 432000;
	c->on_unresolved = CONF_UNRESOLVED_HOLD;
	c->outbox_settle = 5;
	c->shutdown_timeout = 20;
	c->limits.max_issue_bytes = 20L << 20;
	c->limits.max_attachments = 16;
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
		"on_unresolved", "limits", "classification", "shutdown_timeout", NULL };
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
	load_smtp(&L, root);
	load_sender(&L, root);
	load_numbers(&L, root);
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
	free_strings(c->path, c->outbox, c->archive, c->rejected, c->state,
	    c->delivery_log, c->control_socket, c->smtp.url, c->smtp.host,
	    c->smtp.username, c->smtp.password_file, c->smtp.ca_file,
	    c->smtp.pinned_pubkey, c->sender.from, c->sender.from_address,
	    c->sender.from_display, c->sender.subject, c->sender.admin, (char *)-1);
	if (c->smtp.password != NULL) {
		explicit_bzero(c->smtp.password, strlen(c->smtp.password));
		free(c->smtp.password);
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
	}
	free(c->groups);
	for (size_t i = 0; i < c->n_series; i++) {
		for (size_t j = 0; j < c->series[i].n_tiers; j++) {
			free(c->series[i].tiers[j].tier);
			free_list(c->series[i].tiers[j].units, c->series[i].tiers[j].n_units);
		}
		free(c->series[i].tiers);
		free(c->series[i].title);
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
