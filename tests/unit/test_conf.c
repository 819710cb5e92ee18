#include "testutil.h"

#include <time.h>

#include "conf.h"

#define MINIMAL \
	"smtp = { url = \"smtps://mail.example.test\"; };\n" \
	"sender = { from = \"办公室 <bulletin@example.test>\"; };\n" \
	"recipients = ( { name = \"中央文明办\"; address = \"office@wmb.example.test\"; } );\n"

/* Loads text as a config file; returns the conf or NULL with errors in *errs. */
static struct conf *
load(const char *text, int flags, char **errs)
{
	char *path = write_temp(text, 0644);
	struct sbuf e = SBUF_INIT;
	struct conf *c = NULL;

	if (conf_load(path, flags, &c, &e) < 0)
		c = NULL;
	unlink(path);
	free(path);
	*errs = sbuf_steal(&e);
	return c;
}

static void
expect_error(const char *text, const char *needle)
{
	char *errs;
	struct conf *c = load(text, 0, &errs);

	if (c != NULL)
		fail_msg("config was accepted; expected error '%s'", needle);
	if (strstr(errs, needle) == NULL)
		fail_msg("errors:\n%s\ndo not contain '%s'", errs, needle);
	free(errs);
}

static void
test_minimal_defaults(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(MINIMAL, 0, &errs);

	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(errs, "");
	assert_string_equal(c->outbox, "/var/spool/distd/outbox");
	assert_string_equal(c->state, "/var/lib/distd/queue.db");
	assert_string_equal(c->control_socket, "/run/distd/control");
	assert_int_equal(c->smtp.connections, 4);
	assert_int_equal(c->smtp.max_rcpt_per_message, 50);
	assert_int_equal(c->smtp.port, 465);
	assert_true(c->smtp.implicit_tls);
	assert_string_equal(c->smtp.host, "mail.example.test");
	assert_string_equal(c->sender.from_address, "bulletin@example.test");
	assert_string_equal(c->sender.from_display, "办公室");
	assert_string_equal(c->sender.admin, "bulletin@example.test");
	assert_string_equal(c->sender.subject, "%title% 第%issue%期");
	assert_int_equal(c->retry.min_backoff, 300);
	assert_int_equal(c->retry.lifetime, 432000);
	assert_int_equal(c->limits.max_issue_bytes, 20 << 20);
	assert_int_equal(c->n_tiers, 3);
	assert_string_equal(c->tiers[1].keyword, "送");
	assert_int_equal(c->tiers[2].header, CONF_HEADER_BCC);
	assert_int_equal(conf_tier_index(c, "抄送"), 1);
	assert_int_equal(conf_tier_index(c, "抄 报"), 0);
	assert_int_equal(conf_tier_index(c, "印发"), -1);
	assert_int_equal(c->on_unresolved, CONF_UNRESOLVED_HOLD);
	assert_int_equal(c->outbox_settle, 5);
	assert_string_equal(c->recipients[0].display, "中央文明办");
	assert_non_null(conf_lookup(c, "中央文明办"));
	free(errs);
	conf_free(c);
}

static void
test_bad_address_names_line_and_setting(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(
	    "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = (\n"
	    "  { name = \"甲\"; address = \"a@example.test\"; },\n"
	    "  { name = \"乙\";\n"
	    "    address = [ \"b@example.test\",\n"
	    "                \"office@\" ]; }\n"
	    ");\n", 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ":7: recipients[1].address[1]: 'office@' is not "
	    "an e-mail address: the domain after '@' is empty"));
	assert_memory_equal(errs, "/tmp/distd-test-", 16);
	free(errs);
}

static void
test_address_rules(void **state)
{
	(void)state;
	expect_error(MINIMAL "groups = ();\n"
	    "series = ();\n"
	    "tiers = ( { keyword = \"报\"; } );\n"
	    "limits = { max_attachments = 1; };\n"
	    "retry = { min_backoff = 1; };\n"
	    "on_unresolved = \"hold\";\n"
	    "outbox = \"/x\";\n"
	    "state = \"/x/q.db\";\n"
	    "delivery_log = \"/x/l\";\n"
	    "control_socket = \"/x/c\";\n"
	    "archive = \"/x/a\";\n"
	    "rejected = \"/x/r\";\n"
	    "extra = ( { name = \"丙\"; address = \"张三@example.test\"; } );\n",
	    "extra: unknown setting");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"张三@example.test\"; } );\n",
	    "non-ASCII local part (SMTPUTF8 is not supported)");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@邮件.example\"; } );\n",
	    "non-ASCII domain");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"not an address\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "sender.from: 'not an address' is not a mailbox");
}

static void
test_duplicate_names(void **state)
{
	(void)state;
	expect_error(MINIMAL "groups = ( { name = \"中 央文明办\"; members = [ \"中央文明办\" ]; } );\n",
	    ":4: groups[0].name: '中央文明办' is already defined by recipients[0].name (line 3)");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"甲\"; address = \"a@example.test\"; },\n"
	    "  { name = \"乙\"; aliases = [ \"甲\" ]; address = \"b@example.test\"; } );\n",
	    ":4: recipients[1].aliases[0]: '甲' is already defined by recipients[0].name (line 3)");
}

static void
test_groups_members_and_cycles(void **state)
{
	(void)state;
	expect_error(MINIMAL "groups = ( { name = \"各区\"; members = [ \"中央文明办\", \"东城区\" ]; } );\n",
	    "groups[0].members[1]: '东城区' is neither a recipient nor a group");
	expect_error(MINIMAL "groups = (\n"
	    "  { name = \"甲组\"; members = [ \"乙组\" ]; },\n"
	    "  { name = \"乙组\"; members = [ \"丙组\", \"中央文明办\" ]; },\n"
	    "  { name = \"丙组\"; members = [ \"甲组\" ]; } );\n",
	    "groups: cycle: 甲组 → 乙组 → 丙组 → 甲组");
	expect_error(MINIMAL "groups = ( { name = \"自己\"; members = [ \"自己\" ]; } );\n",
	    "cycle: 自己 → 自己");
}

static void
test_tier_rules(void **state)
{
	(void)state;
	expect_error(MINIMAL "tiers = ( { keyword = \"报\"; aliases = [ \"抄送\" ]; },\n"
	    "  { keyword = \"送\"; aliases = [ \"抄送\" ]; } );\n",
	    "tiers: '抄送' names two tiers (报 and 送)");
	expect_error(MINIMAL "tiers = ( { keyword = \"报\"; header = \"from\"; } );\n",
	    "tiers[0]: header 'from': expected \"to\", \"cc\" or \"bcc\"");
	expect_error(MINIMAL "tiers = ( );\n", "tiers: the list is empty");
	expect_error(MINIMAL "series = ( { title = \"简报\"; tiers = ( { tier = \"抄\"; units = [ \"中央文明办\" ]; } ); } );\n",
	    "series[0].tiers[0]: tier '抄' is not defined in tiers");
}

/* receipt = "request" | "none" in a tier and a series entry (issue 17). */
static void
test_receipt_setting(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(MINIMAL
	    "tiers = ( { keyword = \"报\"; receipt = \"request\"; },\n"
	    "  { keyword = \"送\"; receipt = \"none\"; }, { keyword = \"发\"; } );\n"
	    "series = ( { title = \"简报\"; receipt = \"request\"; },\n"
	    "  { title = \"通报\"; receipt = \"none\"; from = \"x@example.test\"; },\n"
	    "  { title = \"动态\"; from = \"y@example.test\"; } );\n", 0, &errs);

	if (c == NULL)
		fail_msg("%s", errs);
	assert_int_equal(c->tiers[0].receipt, CONF_RECEIPT_REQUEST);
	assert_int_equal(c->tiers[1].receipt, CONF_RECEIPT_NONE);
	assert_int_equal(c->tiers[2].receipt, CONF_RECEIPT_UNSET);
	assert_int_equal(c->series[0].receipt, CONF_RECEIPT_REQUEST);
	assert_int_equal(c->series[1].receipt, CONF_RECEIPT_NONE);
	assert_int_equal(c->series[2].receipt, CONF_RECEIPT_UNSET);
	/* no feedback.address: the From address of the issue's series */
	assert_string_equal(conf_receipt_address(c, "简报"), "bulletin@example.test");
	assert_string_equal(conf_receipt_address(c, "通报"), "x@example.test");
	assert_string_equal(conf_receipt_address(c, NULL), "bulletin@example.test");
	free(errs);
	conf_free(c);

	/* the default tiers ask nobody */
	c = load(MINIMAL, 0, &errs);
	assert_non_null(c);
	for (size_t i = 0; i < c->n_tiers; i++)
		assert_int_equal(c->tiers[i].receipt, CONF_RECEIPT_UNSET);
	free(errs);
	conf_free(c);

	/* anything else is refused with file:line, the setting and the words */
	expect_error(MINIMAL "tiers = ( { keyword = \"报\";\n receipt = \"yes\"; } );\n",
	    ":5: tiers[0].receipt: 'yes': expected \"request\"");
	expect_error(MINIMAL "tiers = ( { keyword = \"报\"; receipt = \"Request\"; } );\n",
	    "or \"none\"");
	expect_error(MINIMAL "series = ( { title = \"简报\";\n\n receipt = \"always\"; } );\n",
	    ":6: series[0].receipt: 'always': expected \"request\"");
	expect_error(MINIMAL "series = ( { title = \"简报\"; receipt = true; } );\n",
	    "series[0].receipt: expected a string");
	expect_error(MINIMAL "tiers = ( { keyword = \"报\"; receipt = \"\"; } );\n",
	    "tiers[0].receipt: must not be empty");
	/* a misspelt name is still an unknown setting */
	expect_error(MINIMAL "series = ( { title = \"简报\"; receipts = \"request\"; } );\n",
	    "receipts");
}

static void
test_url_and_tls(void **state)
{
	(void)state;
	char *errs;
	struct conf *c;

	expect_error("smtp = { url = \"http://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.url: 'http://mail.example.test': expected smtps://");
	expect_error("smtp = { url = \"smtp://mail.example.test\"; tls = \"none\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.tls: \"none\" is only allowed for a relay on 127.0.0.1");
	expect_error("smtp = { url = \"smtps://127.0.0.1:2465\"; tls = \"none\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "contradicts smtps://");
	expect_error("smtp = { url = \"smtps://mail.example.test:99999\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "bad port");

	c = load("smtp = { url = \"smtp://127.0.0.1:2525\"; tls = \"none\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n", 0, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_true(c->smtp.tls_none);
	assert_false(c->smtp.implicit_tls);
	assert_int_equal(c->smtp.port, 2525);
	conf_free(c);
	free(errs);
}

static void
test_numbers_in_range(void **state)
{
	(void)state;
	expect_error(MINIMAL "smtp2 = 1;\n", "smtp2: unknown setting");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; connections = 0; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.connections: 0 is out of range (expected 1 to 32)");
	expect_error(MINIMAL "retry = { min_backoff = 600; max_backoff = 60; };\n",
	    "retry.max_backoff: 60 is below retry.min_backoff (600)");
	expect_error(MINIMAL "retry = { lifetime = \"5d\"; };\n",
	    "retry.lifetime: expected a whole number");
	expect_error(MINIMAL "outbox = \"spool/outbox\";\n",
	    "outbox: 'spool/outbox' is not an absolute path");
	expect_error(MINIMAL "on_unresolved = \"drop\";\n",
	    "on_unresolved: 'drop': expected \"hold\" or \"send\"");
	expect_error(MINIMAL "sender2 = 1;\n", "unknown setting");
}

/* state: a file path is the SQLite queue; a scheme no backend serves is named */
static void
test_state_backend_scheme(void **state)
{
	(void)state;
	expect_error(MINIMAL "state = \"mysql://db.example.test/distd\";\n",
	    "state: unsupported queue backend \"mysql\" in "
	    "'mysql://db.example.test/distd' (a file path selects the SQLite queue)");
	/* PostgreSQL: a URI or a keyword string, accepted as it is */
	static const char *const pg[] = {
		MINIMAL "state = \"postgresql://db.example.test/distd\";\n",
		MINIMAL "state = \"host=/run/postgresql dbname=distd\";\n",
	};
	for (size_t i = 0; i < sizeof(pg) / sizeof(pg[0]); i++) {
		char *errs;
		struct conf *c = load(pg[i], 0, &errs);
		if (c == NULL)
			fail_msg("%s", errs);
		assert_non_null(strstr(pg[i], c->state));	/* kept whole */
		free(errs);
		conf_free(c);
	}
	/* a password never in the configuration, and never echoed */
	expect_error(MINIMAL "state = \"postgresql://u:s3cret@db.example.test/distd\";\n",
	    "carries a password: put it in a password file");
	expect_error(MINIMAL "state = \"host=db.example.test password=s3cret\";\n",
	    "carries a password");
	char *errs;
	assert_null(load(MINIMAL "state = \"host=db.example.test password=s3cret\";\n",
	    0, &errs));
	assert_null(strstr(errs, "s3cret"));
	free(errs);
	expect_error(MINIMAL "state = \"queue.db\";\n",
	    "state: 'queue.db' is not an absolute path");
	/* not a scheme: a relative path with a colon stays a path error */
	expect_error(MINIMAL "state = \"db:/x\";\n", "state: 'db:/x' is not an absolute path");
}

/* issue 13's relay settings: defaults, values, and what is refused */
static void
test_relay_settings(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(MINIMAL, 0, &errs);

	assert_non_null(c);
	assert_null(c->smtp.helo);
	assert_int_equal(c->smtp.idle_timeout, 60);
	assert_int_equal(c->smtp.max_message_bytes, 0);
	assert_int_equal(c->smtp.max_messages_per_minute, 0);
	assert_int_equal(c->smtp.max_recipients_per_hour, 0);
	assert_null(c->smtp.fallback.url);
	assert_int_equal(c->alerts.deferred_after, 3600);
	assert_int_equal(c->compose.max_header_names, 100);
	conf_free(c);
	free(errs);

	char *pw = write_temp("backup-secret\n", 0600);
	char text[1024];
	snprintf(text, sizeof(text), "smtp = { url = \"smtps://mail.example.test\";"
	    " helo = \"bulletin.example.test\"; idle_timeout = 20;"
	    " max_message_bytes = 10000000; max_messages_per_minute = 30;"
	    " max_recipients_per_hour = 500;"
	    " fallback = { url = \"smtp://backup.example.test:587\";"
	    " username = \"b@example.test\"; password_file = \"%s\"; }; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n"
	    "alerts = { deferred_after = 900; };\n"
	    "compose = { max_header_names = 20; };\n", pw);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(c->smtp.helo, "bulletin.example.test");
	assert_int_equal(c->smtp.idle_timeout, 20);
	assert_int_equal(c->smtp.max_message_bytes, 10000000);
	assert_int_equal(c->smtp.max_messages_per_minute, 30);
	assert_int_equal(c->smtp.max_recipients_per_hour, 500);
	assert_string_equal(c->smtp.fallback.host, "backup.example.test");
	assert_int_equal(c->smtp.fallback.port, 587);
	assert_false(c->smtp.fallback.implicit_tls);
	assert_string_equal(c->smtp.fallback.password, "backup-secret");
	assert_int_equal(c->alerts.deferred_after, 900);
	assert_int_equal(c->compose.max_header_names, 20);
	conf_free(c);
	free(errs);
	unlink(pw);
	free(pw);

	expect_error(MINIMAL "smtp2 = 1;\n", "smtp2");
	expect_error("smtp = { url = \"smtps://mail.example.test\"; helo = \"vm\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.helo: 'vm': expected a fully qualified name");
	expect_error("smtp = { url = \"smtps://mail.example.test\";"
	    " fallback = { username = \"b@example.test\"; }; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.fallback.url: missing");
	expect_error("smtp = { url = \"smtps://mail.example.test\";"
	    " fallback = { url = \"https://backup.example.test\"; }; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.fallback.url: 'https://backup.example.test': expected smtps://");
	expect_error(MINIMAL "alerts = { deferred_after = 0; };\n",
	    "alerts.deferred_after: 0 is out of range");
	expect_error(MINIMAL "compose = { max_header_names = 0; };\n",
	    "compose.max_header_names: 0 is out of range");
	expect_error(MINIMAL "compose = { max_names = 5; };\n", "compose.max_names");
}

/* outbox is a path, or a group with its path and settle time */
static void
test_outbox_group(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(MINIMAL "outbox = { path = \"/srv/share/outbox\"; settle = 12; };\n",
	    0, &errs);

	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(c->outbox, "/srv/share/outbox");
	assert_int_equal(c->outbox_settle, 12);
	free(errs);
	conf_free(c);
	c = load(MINIMAL "outbox = { settle = 2; };\n", 0, &errs);
	assert_non_null(c);
	assert_string_equal(c->outbox, "/var/spool/distd/outbox");
	free(errs);
	conf_free(c);
	expect_error(MINIMAL "outbox = { path = \"/o\"; settle = 0; };\n",
	    "outbox.settle: 0 is out of range (expected 1 to 3600)");
	expect_error(MINIMAL "outbox = { path = \"o\"; };\n",
	    "outbox.path: 'o' is not an absolute path");
	expect_error(MINIMAL "outbox = { paht = \"/o\"; };\n",
	    "outbox.paht: unknown setting (expected one of: path, settle, shared)");
	c = load(MINIMAL "outbox = { path = \"/o\"; shared = true; };\n", 0, &errs);
	assert_non_null(c);
	assert_true(c->outbox_shared);
	free(errs);
	conf_free(c);
	expect_error(MINIMAL "outbox = { path = \"/o\"; shared = 1; };\n",
	    "outbox.shared: expected true or false");
}

/* node is a name, or a group with the name and the lease; default: the host's short name */
static void
test_node(void **state)
{
	(void)state;
	char *errs, host[256] = "";
	struct conf *c = load(MINIMAL, 0, &errs);

	assert_non_null(c);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	host[strcspn(host, ".")] = '\0';
	assert_string_equal(c->node, host);
	assert_int_equal(c->node_lease, 30);
	assert_false(c->outbox_shared);
	free(errs);
	conf_free(c);
	c = load(MINIMAL "node = \"distd-a\";\n", 0, &errs);
	assert_non_null(c);
	assert_string_equal(c->node, "distd-a");
	free(errs);
	conf_free(c);
	c = load(MINIMAL "node = { name = \"b.2\"; lease = 6; };\n", 0, &errs);
	assert_non_null(c);
	assert_string_equal(c->node, "b.2");
	assert_int_equal(c->node_lease, 6);
	free(errs);
	conf_free(c);
	expect_error(MINIMAL "node = \"a/b\";\n", "node: 'a/b': expected 1 to 63 letters");
	expect_error(MINIMAL "node = \".hidden\";\n", "not starting with '.'");
	expect_error(MINIMAL "node = { name = \"n\"; lease = 2; };\n",
	    "node.lease: 2 is out of range (expected 3 to 3600)");
	expect_error(MINIMAL "node = { nam = \"n\"; };\n", "node.nam: unknown setting");
}

static void
test_subject_template(void **state)
{
	(void)state;
	expect_error("smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; subject = \"%title% %number%\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "sender.subject: unknown placeholder '%number%'");
}

static void
test_every_error_reported(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load("smtp = { url = \"ftp://x\"; connections = 99; };\n"
	    "sender = { from = \"@\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"bad\"; } );\n"
	    "on_unresolved = \"maybe\";\n", 0, &errs);
	size_t lines = 0;

	assert_null(c);
	for (const char *p = errs; *p; p++)
		lines += *p == '\n';
	assert_true(lines >= 5);
	assert_non_null(strstr(errs, ":1: smtp.url"));
	assert_non_null(strstr(errs, ":1: smtp.connections"));
	assert_non_null(strstr(errs, ":2: sender.from"));
	assert_non_null(strstr(errs, ":3: recipients[0].address[0]"));
	assert_non_null(strstr(errs, ":4: on_unresolved"));
	free(errs);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	expect_error("smtp = { url = \"smtps://x.example.test\" }\nsender = {;\n", ":");
	char *errs;
	struct conf *c = load("a = 1;\nb = ;\n", 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ":2: syntax error"));
	free(errs);

	struct sbuf e = SBUF_INIT;
	assert_int_equal(conf_load("/nonexistent/distd.conf", 0, &c, &e), -1);
	assert_non_null(strstr(sbuf_str(&e), "/nonexistent/distd.conf: cannot read"));
	sbuf_free(&e);
}

static void
test_secrets(void **state)
{
	(void)state;
	char *open_secret = write_temp("hunter2\n", 0644);
	char *secret = write_temp("s3cret\r\n", 0600);
	char text[1024], *errs;
	struct conf *c;

	snprintf(text, sizeof(text), "smtp = { url = \"smtps://mail.example.test\"; "
	    "username = \"u@example.test\"; password_file = \"%s\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    open_secret);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "is open to group or others (mode 644, owner uid "));
	free(errs);

	/* root:group 0640 is the admins' grant; the same mode owned by
	 * anyone but root is not (only meaningful where the test is root) */
	char *group_secret = write_temp("s3cret\n", 0640);
	snprintf(text, sizeof(text), "smtp = { url = \"smtps://mail.example.test\"; "
	    "username = \"u@example.test\"; password_file = \"%s\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    group_secret);
	if (geteuid() == 0) {
		c = load(text, CONF_LOAD_SECRETS, &errs);
		if (c == NULL)
			fail_msg("%s", errs);
		assert_string_equal(c->smtp.password, "s3cret");
		conf_free(c);
		free(errs);
		assert_int_equal(chown(group_secret, 65534, 65534), 0);
	}
	c = load(text, CONF_LOAD_SECRETS, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "(mode 640, owner uid "));
	free(errs);
	unlink(group_secret);
	free(group_secret);

	snprintf(text, sizeof(text), "smtp = { url = \"smtps://mail.example.test\"; "
	    "username = \"u@example.test\"; password_file = \"%s\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n", secret);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(c->smtp.password, "s3cret");
	conf_free(c);
	free(errs);

	/* without CONF_LOAD_SECRETS nothing is read */
	c = load(text, 0, &errs);
	assert_non_null(c);
	assert_null(c->smtp.password);
	conf_free(c);
	free(errs);

	/* systemd's LoadCredential wins over password_file */
	char dir[] = "/tmp/distd-creds-XXXXXX", cred[256];
	assert_non_null(mkdtemp(dir));
	snprintf(cred, sizeof(cred), "%s/smtp-password", dir);
	FILE *f = fopen(cred, "w");
	fputs("from-credentials\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_non_null(c);
	assert_string_equal(c->smtp.password, "from-credentials");
	conf_free(c);
	free(errs);
	unlink(cred);
	rmdir(dir);

	/* the password itself is refused in the file */
	expect_error("smtp = { url = \"smtps://mail.example.test\"; password = \"x\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    "smtp.password: the password never goes into this file");

	/* a username without any password */
	c = load("smtp = { url = \"smtps://mail.example.test\"; username = \"u@example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
	    CONF_LOAD_SECRETS, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "smtp.username: is set but there is no password"));
	free(errs);

	unlink(open_secret);
	unlink(secret);
	free(open_secret);
	free(secret);
}

static void
test_example_config(void **state)
{
	(void)state;
	struct sbuf e = SBUF_INIT;
	struct conf *c;

	/* the shipped example is valid (its password file lives on the server) */
	if (conf_load("conf/distd.conf", 0, &c, &e) < 0)
		fail_msg("%s", sbuf_str(&e));
	assert_true(c->n_recipients > 40);
	assert_int_equal(c->n_tiers, 3);
	assert_int_equal(c->tiers[2].header, CONF_HEADER_BCC);
	conf_free(c);
	sbuf_free(&e);
}


static void
test_classification_extra_marks(void **state)
{
	(void)state;
	char *errs;
	struct conf *c = load(MINIMAL "classification = { extra_marks = (\n"
	    "  { mark = \"内部\"; action = \"refuse\"; },\n"
	    "  { mark = \"限阅\"; action = \"hold\"; },\n"
	    "  { mark = \"传阅\"; } ); };\n", 0, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	free(errs);
	assert_int_equal(c->n_extra_marks, 3);
	assert_string_equal(c->extra_marks[0].mark, "内部");
	assert_int_equal(c->extra_marks[0].action, CONF_MARK_REFUSE);
	assert_int_equal(c->extra_marks[1].action, CONF_MARK_HOLD);
	assert_int_equal(c->extra_marks[2].action, CONF_MARK_REFUSE);	/* default */
	conf_free(c);

	expect_error(MINIMAL "classification = { extra_marks = ( { mark = \"内部\"; action = \"send\"; } ); };\n",
	    "classification.extra_marks[0]: action 'send': expected \"refuse\" or \"hold\"");
	expect_error(MINIMAL "classification = { extra_marks = ( { action = \"hold\"; } ); };\n",
	    "classification.extra_marks[0]: missing mark");
	expect_error(MINIMAL "classification = { extra_marks = \"内部\"; };\n",
	    "classification.extra_marks: expected a list");
	expect_error(MINIMAL "classification = { marks = ( ); };\n", "classification.marks");
}


/* smtp.url is read by libcurl's URL parser: the host checked is the one curl connects to */
static void
test_url_read_as_curl_reads_it(void **state)
{
	(void)state;
#define RELAY(url, tls) "smtp = { url = \"" url "\"; " tls " };\n" \
	"sender = { from = \"bulletin@example.test\"; };\n" \
	"recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n"
	/* userinfo that looks like a loopback host: curl goes to evil.example.test */
	expect_error(RELAY("smtp://127.0.0.1@evil.example.test:2525", "tls = \"none\";"),
	    "smtp.url: 'smtp://127.0.0.1@evil.example.test:2525': user information");
	expect_error(RELAY("smtp://127.0.0.1:25@evil.example.test", "tls = \"none\";"),
	    "user information (before '@') is not allowed");
	expect_error(RELAY("smtps://u:secret@mail.example.test", ""),
	    "user information (before '@') is not allowed");
	expect_error(RELAY("smtp://localhost.evil.example.test", "tls = \"none\";"),
	    "not localhost.evil.example.test");
	expect_error(RELAY("smtp://127.0.0.1.evil.example.test", "tls = \"none\";"),
	    "not 127.0.0.1.evil.example.test");
	expect_error(RELAY("smtp://[::2]:2525", "tls = \"none\";"),
	    "smtp.tls: \"none\" is only allowed for a relay on 127.0.0.1");
	expect_error(RELAY("smtp://", ""), "smtp.url: 'smtp://'");
	expect_error(RELAY("mail.example.test", ""), "expected smtps://HOST[:PORT]");
	expect_error(RELAY("smtps://mail.example.test:0", ""), "bad port");

	/* every loopback form passes, and host and port are curl's */
	static const struct { const char *url; const char *host; int port; } ok[] = {
		{ "smtp://127.0.0.1:2525", "127.0.0.1", 2525 },
		{ "smtp://127.8.9.10", "127.8.9.10", 25 },
		{ "smtp://localhost:2525/ehlo.example.test", "localhost", 2525 },
		{ "smtp://[::1]:2525", "[::1]", 2525 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[512], *errs;
		snprintf(text, sizeof(text), "smtp = { url = \"%s\"; tls = \"none\"; };\n"
		    "sender = { from = \"bulletin@example.test\"; };\n"
		    "recipients = ( { name = \"丙\"; address = \"a@example.test\"; } );\n",
		    ok[i].url);
		struct conf *c = load(text, 0, &errs);
		if (c == NULL)
			fail_msg("%s: %s", ok[i].url, errs);
		assert_true(c->smtp.tls_none);
		assert_string_equal(c->smtp.host, ok[i].host);
		assert_int_equal(c->smtp.port, ok[i].port);
		conf_free(c);
		free(errs);
	}
#undef RELAY
}

/* Groups "L<level>A/B", each holding both groups of the level below: 2^depth paths. */
static char *
diamond_groups(int depth)
{
	struct sbuf b = SBUF_INIT;

	sbuf_puts(&b, "groups = (\n");
	for (int lv = 0; lv < depth; lv++)
		for (int k = 0; k < 2; k++) {
			if (lv == 0)
				sbuf_printf(&b, "%s{ name = \"L0%c\"; members = [ \"中央文明办\" ]; }",
				    k ? ",\n" : "", 'A' + k);
			else
				sbuf_printf(&b, ",\n{ name = \"L%d%c\"; members = [ \"L%dA\", \"L%dB\" ]; }",
				    lv, 'A' + k, lv - 1, lv - 1);
		}
	sbuf_puts(&b, " );\n");
	return sbuf_steal(&b);
}

static void
test_group_depth_and_size_limits(void **state)
{
	(void)state;
	struct sbuf text = SBUF_INIT;
	char *groups = diamond_groups(24), *errs;

	/* 24 levels of diamonds: within the default depth, checked without
	 * following 2^24 paths */
	sbuf_printf(&text, MINIMAL "%s", groups);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct conf *c = load(sbuf_str(&text), 0, &errs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.0);
	assert_int_equal(c->limits.max_group_depth, CONF_MAX_GROUP_DEPTH);
	assert_int_equal(c->limits.max_group_addresses, CONF_MAX_GROUP_ADDRESSES);
	conf_free(c);
	free(errs);

	/* one level over a lower limit: the outermost groups are named */
	sbuf_reset(&text);
	sbuf_printf(&text, MINIMAL "limits = { max_group_depth = 23; };\n%s", groups);
	c = load(sbuf_str(&text), 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ": groups[46]: 'L23A' nests groups 24 levels deep; "
	    "the limit is 23 (limits.max_group_depth)"));
	assert_non_null(strstr(errs, "groups[47]: 'L23B'"));
	assert_null(strstr(errs, "'L22A'"));	/* said by its outer groups */
	free(errs);
	free(groups);

	/* size: distinct addresses count, not paths */
	sbuf_reset(&text);
	sbuf_puts(&text, "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\n"
	    "limits = { max_group_addresses = 3; };\n"
	    "recipients = ( { name = \"甲\"; address = [ \"a@example.test\", \"b@example.test\" ]; },\n"
	    "  { name = \"乙\"; address = \"c@example.test\"; },\n"
	    "  { name = \"丙\"; address = \"d@example.test\"; } );\n"
	    "groups = ( { name = \"两组\"; members = [ \"甲\", \"乙\" ]; },\n"
	    "  { name = \"重复\"; members = [ \"两组\", \"两组\", \"甲\", \"乙\" ]; },\n"
	    "  { name = \"太多\"; members = [ \"重复\", \"丙\" ]; },\n"
	    "  { name = \"外层\"; members = [ \"太多\" ]; } );\n");
	c = load(sbuf_str(&text), 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ":9: groups[2]: '太多' reaches more than 3 addresses "
	    "(limits.max_group_addresses)"));
	assert_null(strstr(errs, "'重复'"));	/* 3 distinct, though 9 by paths */
	assert_null(strstr(errs, "'外层'"));	/* said by 太多 */
	free(errs);
	sbuf_free(&text);

	expect_error(MINIMAL "limits = { max_group_depth = 0; };\n",
	    "limits.max_group_depth: 0 is out of range (expected 1 to 1000)");
}

/* A 200 000-deep chain is refused with a message, not a crash (no recursion). */
static void
test_deep_chain_refused(void **state)
{
	(void)state;
	struct sbuf text = SBUF_INIT;
	enum { N = 200000 };
	char *errs;

	sbuf_puts(&text, MINIMAL "groups = (\n");
	for (int i = 0; i < N; i++) {
		if (i == N - 1)
			sbuf_printf(&text, "{ name = \"G%d\"; members = [ \"中央文明办\" ]; }", i);
		else
			sbuf_printf(&text, "{ name = \"G%d\"; members = [ \"G%d\" ]; },\n", i, i + 1);
	}
	sbuf_puts(&text, " );\n");
	struct conf *c = load(sbuf_str(&text), 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, ":5: groups[0]: 'G0' nests groups 200000 levels deep; "
	    "the limit is 32 (limits.max_group_depth)"));
	/* one line, not one per group */
	assert_null(strchr(strchr(errs, '\n') + 1, '\n'));
	free(errs);

	/* a long chain closed into a cycle: reported, its middle cut (20 000
	 * are enough to show it; libconfig reads 200 000 slowly under ASan) */
	sbuf_reset(&text);
	sbuf_puts(&text, MINIMAL "groups = (\n");
	for (int i = 0; i < N / 10; i++)
		sbuf_printf(&text, "%s{ name = \"G%d\"; members = [ \"G%d\" ]; }", i ? ",\n" : "",
		    i, (i + 1) % (N / 10));
	sbuf_puts(&text, " );\n");
	c = load(sbuf_str(&text), 0, &errs);
	assert_null(c);
	assert_non_null(strstr(errs, "groups: cycle: G0 → G1 → "));
	assert_non_null(strstr(errs, "… (19988 more) … → "));
	assert_true(strlen(errs) < 1000);
	free(errs);
	sbuf_free(&text);
}


/*
 * Levels of 60 groups, each holding all 60 groups of the level below:
 * within the depth limit and, by distinct addresses, tiny, but walking
 * every group once reads ~10^8 member entries. Refused, in bounded time.
 */
static void
test_entangled_groups_refused(void **state)
{
	(void)state;
	struct sbuf text = SBUF_INIT;
	enum { W = 60, LEVELS = 30 };
	char *errs;

	sbuf_puts(&text, "smtp = { url = \"smtps://mail.example.test\"; };\n"
	    "sender = { from = \"bulletin@example.test\"; };\nrecipients = (\n");
	for (int i = 0; i < W; i++)
		sbuf_printf(&text, "%s{ name = \"R%d\"; address = \"r%d@example.test\"; }",
		    i ? ",\n" : "", i, i);
	sbuf_puts(&text, " );\ngroups = (\n");
	for (int lv = 0; lv < LEVELS; lv++)
		for (int k = 0; k < W; k++) {
			sbuf_printf(&text, "%s{ name = \"L%d_%d\"; members = [ ", lv || k ? ",\n" : "",
			    lv, k);
			for (int m = 0; m < W; m++) {
				if (lv == 0)
					sbuf_printf(&text, "%s\"R%d\"", m ? ", " : "", m);
				else
					sbuf_printf(&text, "%s\"L%d_%d\"", m ? ", " : "", lv - 1, m);
			}
			sbuf_puts(&text, " ]; }");
		}
	sbuf_puts(&text, " );\n");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct conf *c = load(sbuf_str(&text), 0, &errs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(c);
	if (strstr(errs, "expanding every group once reads more than 50000000 member "
	    "entries") == NULL)
		fail_msg("%s", errs);
	assert_non_null(strstr(errs, ": groups["));
	double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (took > 20.0)	/* ~0.5 s; without the bound the check alone took seconds */
		fail_msg("took %.1f s", took);
	free(errs);
	sbuf_free(&text);
}

/* The feedback block: off when absent, imaps only, defaults, the secret. */
static void
test_feedback(void **state)
{
	(void)state;
	char *errs, text[2048];
	struct conf *c = load(MINIMAL, 0, &errs);

	assert_non_null(c);
	assert_false(c->feedback.enabled);
	conf_free(c);
	free(errs);

	c = load(MINIMAL "feedback = { url = \"imaps://imap.example.test\"; "
	    "username = \"distd@example.test\"; };\n", 0, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_true(c->feedback.enabled);
	assert_string_equal(c->feedback.host, "imap.example.test");
	assert_int_equal(c->feedback.port, 993);
	assert_string_equal(c->feedback.folder, "INBOX");
	assert_int_equal(c->feedback.interval, 300);
	assert_string_equal(c->feedback.done_folder, "distd-done");
	assert_null(c->feedback.address);
	conf_free(c);
	free(errs);

	/* a mailbox of its own: confirmations of receipt go there */
	c = load(MINIMAL "feedback = { url = \"imaps://imap.example.test\"; "
	    "username = \"distd@example.test\"; address = \"receipts@example.test\"; };\n",
	    0, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(conf_receipt_address(c, "简报"), "receipts@example.test");
	conf_free(c);
	free(errs);

	c = load(MINIMAL "feedback = { url = \"imaps://127.0.0.1:9993/Bounces/%E9%80%80%E4%BF%A1\"; "
	    "username = \"distd@example.test\"; interval = 30; done_folder = \"Done\";\n"
	    " address = \"distd@example.test\"; };\n", 0, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_int_equal(c->feedback.port, 9993);
	assert_string_equal(c->feedback.folder, "Bounces/退信");
	assert_int_equal(c->feedback.interval, 30);
	assert_string_equal(c->feedback.done_folder, "Done");
	assert_string_equal(c->feedback.address, "distd@example.test");
	conf_free(c);
	free(errs);

	/* imap:// is refused, saying why */
	expect_error(MINIMAL "feedback = {\n url = \"imap://imap.example.test/INBOX\"; "
	    "username = \"u\"; };\n", ":5: feedback.url: 'imap://imap.example.test/INBOX': "
	    "imap:// is refused: the password would cross the network in the clear");
	expect_error(MINIMAL "feedback = {\n url = \"https://imap.example.test/\"; "
	    "username = \"u\"; };\n", ":5: feedback.url: 'https://imap.example.test/': "
	    "expected imaps://");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://u:pw@imap.example.test/\"; "
	    "username = \"u\"; };\n", "feedback.url: 'imaps://u:pw@imap.example.test/': "
	    "user information");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/INBOX;UID=3\"; "
	    "username = \"u\"; };\n", ":5: feedback.url:");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\";\n"
	    " username = \"u\"; interval = 29; };\n",
	    ":6: feedback.interval: 29 is out of range (expected 30 to");
	expect_error(MINIMAL "feedback = {\n username = \"u\"; };\n",
	    ":4: feedback.url: missing");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; };\n",
	    ":4: feedback.username: missing");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n done_folder = \"INBOX\"; };\n",
	    ":6: feedback.done_folder: 'INBOX' is the folder read");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n pasword = \"x\"; };\n",
	    ":6: feedback.pasword: unknown setting");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n password = \"x\"; };\n",
	    ":6: feedback.password: the password never goes into this file");
	expect_error(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n ca_file = \"/nonexistent/ca.pem\"; };\n",
	    ":6: feedback.ca_file: /nonexistent/ca.pem: No such file");

	/* the password: a file not open to others, or LoadCredential */
	char *open_secret = write_temp("hunter2\n", 0644);
	char *secret = write_temp("imap-s3cret\n", 0600);
	snprintf(text, sizeof(text), MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n password_file = \"%s\"; };\n", open_secret);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	assert_null(c);
	if (strstr(errs, ":6: feedback.password_file: ") == NULL ||
	    strstr(errs, "is open to group or others (mode 644") == NULL)
		fail_msg("%s", errs);
	free(errs);
	snprintf(text, sizeof(text), MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\"; "
	    "username = \"u\";\n password_file = \"%s\"; };\n", secret);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(c->feedback.password, "imap-s3cret");
	assert_null(c->smtp.password);
	conf_free(c);
	free(errs);

	char dir[] = "/tmp/distd-creds-XXXXXX", cred[256];
	assert_non_null(mkdtemp(dir));
	snprintf(cred, sizeof(cred), "%s/feedback.password", dir);
	FILE *f = fopen(cred, "w");
	fputs("from-credentials\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	c = load(text, CONF_LOAD_SECRETS, &errs);
	assert_non_null(c);
	assert_string_equal(c->feedback.password, "from-credentials");
	conf_free(c);
	free(errs);
	/* no password_file at all: the credential alone */
	c = load(MINIMAL "feedback = { url = \"imaps://imap.example.test/\"; "
	    "username = \"u\"; };\n", CONF_LOAD_SECRETS, &errs);
	unsetenv("CREDENTIALS_DIRECTORY");
	if (c == NULL)
		fail_msg("%s", errs);
	assert_string_equal(c->feedback.password, "from-credentials");
	conf_free(c);
	free(errs);
	unlink(cred);
	rmdir(dir);
	/* and without either: said so */
	c = load(MINIMAL "feedback = {\n url = \"imaps://imap.example.test/\";\n "
	    "username = \"u\"; };\n", CONF_LOAD_SECRETS, &errs);
	assert_null(c);
	if (strstr(errs, ":6: feedback.username: is set but there is no password: set "
	    "feedback.password_file or LoadCredential=feedback.password") == NULL)
		fail_msg("%s", errs);
	free(errs);
	unlink(open_secret);
	unlink(secret);
	free(open_secret);
	free(secret);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_state_backend_scheme),
		cmocka_unit_test(test_bad_address_names_line_and_setting),
		cmocka_unit_test(test_address_rules),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_groups_members_and_cycles),
		cmocka_unit_test(test_tier_rules),
		cmocka_unit_test(test_receipt_setting),
		cmocka_unit_test(test_url_and_tls),
		cmocka_unit_test(test_numbers_in_range),
		cmocka_unit_test(test_relay_settings),
		cmocka_unit_test(test_outbox_group),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_subject_template),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_feedback),
		cmocka_unit_test(test_classification_extra_marks),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_url_read_as_curl_reads_it),
		cmocka_unit_test(test_group_depth_and_size_limits),
		cmocka_unit_test(test_deep_chain_refused),
		cmocka_unit_test(test_entangled_groups_refused),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
