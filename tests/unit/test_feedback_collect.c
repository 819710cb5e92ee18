#include "testutil.h"

#include "feedback_collect.h"

#define S(x) (x), (sizeof(x) - 1)

static void
test_uidvalidity(void **state)
{
	(void)state;
	uint32_t v = 0;
	static const char sel[] =
	    "* FLAGS (\\Answered \\Seen)\r\n"
	    "* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.\r\n"
	    "* 3 EXISTS\r\n"
	    "* OK [UIDVALIDITY 1795497282] UIDs valid\r\n"
	    "* OK [UIDNEXT 4] Predicted next UID\r\n"
	    "A004 OK [READ-WRITE] Select completed.\r\n";

	assert_int_equal(feedback_imap_uidvalidity(S(sel), &v), 0);
	assert_int_equal(v, 1795497282u);
	/* STATUS's form */
	assert_int_equal(feedback_imap_uidvalidity(S("* STATUS INBOX (UIDVALIDITY 7 UIDNEXT 9)\r\n"
	    "A1 OK\r\n"), &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(feedback_imap_uidvalidity(S("* OK [UIDNEXT 4] x\r\nA1 OK\r\n"), &v), -1);
	assert_int_equal(feedback_imap_uidvalidity(S("* OK [UIDVALIDITY 99999999999] x\r\n"),
	    &v), -1);
	/* not in a tagged line, nor inside a literal */
	assert_int_equal(feedback_imap_uidvalidity(S("A1 OK [UIDVALIDITY 5]\r\n"), &v), -1);
	assert_int_equal(feedback_imap_uidvalidity(S("* 1 FETCH (BODY[] {30}\r\n"
	    "* OK [UIDVALIDITY 5] xxxxxxx\r\n)\r\n"), &v), -1);
}

static void
test_search(void **state)
{
	(void)state;
	uint32_t u[4];

	/* n:* always answers the highest UID, even below n: filtered */
	assert_int_equal(feedback_imap_search(S("* SEARCH 7\r\nA5 OK\r\n"), 7, u, 4), 0);
	assert_int_equal(feedback_imap_search(S("* SEARCH 12 9 10\r\nA5 OK\r\n"), 8, u, 4), 3);
	assert_int_equal(u[0], 9);
	assert_int_equal(u[1], 10);
	assert_int_equal(u[2], 12);
	/* bounded: the lowest max, oldest first; the count says how many in all */
	assert_int_equal(feedback_imap_search(S("* SEARCH 50 3 40 2 30 1\r\n"), 0, u, 4), 6);
	assert_int_equal(u[0], 1);
	assert_int_equal(u[1], 2);
	assert_int_equal(u[2], 3);
	assert_int_equal(u[3], 30);
	/* an empty answer, other untagged lines, junk */
	assert_int_equal(feedback_imap_search(S("* SEARCH\r\n* 3 EXISTS\r\nA5 OK\r\n"), 0,
	    u, 4), 0);
	assert_int_equal(feedback_imap_search(S("* SEARCH 4 x5 6\r\n"), 0, u, 4), 1);
	assert_int_equal(feedback_imap_search(S("* SEARCH 4 99999999999\r\n"), 0, u, 4), 1);
}

static void
test_literal(void **state)
{
	(void)state;
	const char *m;
	size_t n;
	char err[256];
	static const char fetch[] =
	    "* 1 FETCH (UID 5 BODY[] {26}\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "A005 OK\r\n"	/* inside the literal: counted, not read as a line */
	    ")\r\n"
	    "A006 OK Fetch completed.\r\n";

	assert_int_equal(feedback_imap_literal(S(fetch), 5, 1000, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 26);
	assert_memory_equal(m, "Subject: x\r\n\r\nA005 OK\r\n)\r\n", 26);
	/* UID after the body */
	static const char after[] = "* 2 FETCH (BODY[] {3}\r\nabc UID 8)\r\nA1 OK\r\n";
	assert_int_equal(feedback_imap_literal(S(after), 8, 1000, &m, &n, err, sizeof(err)), 0);
	assert_memory_equal(m, "abc", 3);
	/* another UID's response does not count */
	assert_int_equal(feedback_imap_literal(S(after), 9, 1000, &m, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no message"));
	/* cut short: the stream says 26, 10 came */
	assert_int_equal(feedback_imap_literal(S("* 1 FETCH (UID 5 BODY[] {26}\r\nSubject: \r\n"),
	    5, 1000, &m, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cut short"));
	/* over the limit */
	assert_int_equal(feedback_imap_literal(S(fetch), 5, 20, &m, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	/* a literal of something else (an envelope field) is not the body */
	assert_int_equal(feedback_imap_literal(S("* 1 FETCH (UID 5 ENVELOPE {2}\r\nab)\r\n"),
	    5, 1000, &m, &n, err, sizeof(err)), -1);
	/* an absurd length is no literal: read as a line */
	assert_int_equal(feedback_imap_literal(S("* 1 FETCH (UID 5 BODY[] {9999999999999}\r\n"),
	    5, 1000, &m, &n, err, sizeof(err)), -1);
}

static void
test_size_capability_tagged(void **state)
{
	(void)state;
	uint64_t sz = 0;
	char t[256];

	assert_int_equal(feedback_imap_size(S("* 3 FETCH (UID 7 RFC822.SIZE 4096)\r\nA1 OK\r\n"),
	    7, &sz), 0);
	assert_int_equal(sz, 4096);
	assert_int_equal(feedback_imap_size(S("* 3 FETCH (RFC822.SIZE 12 UID 7)\r\n"), 7, &sz), 0);
	assert_int_equal(sz, 12);
	assert_int_equal(feedback_imap_size(S("* 3 FETCH (UID 7 FLAGS ())\r\n"), 7, &sz), -1);
	assert_int_equal(feedback_imap_size(S("* 3 FETCH (UID 8 RFC822.SIZE 1)\r\n"), 7, &sz), -1);

	static const char caps[] =
	    "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.\r\n"
	    "A001 OK Pre-login capabilities listed\r\n"
	    "* CAPABILITY IMAP4rev1 UIDPLUS MOVE SPECIAL-USE\r\n"
	    "A003 OK Capability completed.\r\n";
	assert_true(feedback_imap_capability(S(caps), "MOVE"));
	assert_true(feedback_imap_capability(S(caps), "uidplus"));
	assert_false(feedback_imap_capability(S(caps), "MOV"));
	assert_false(feedback_imap_capability(S("* CAPABILITY IMAP4rev1 UIDPLUS\r\n"), "MOVE"));
	/* in a response code, up to its ']' only */
	assert_false(feedback_imap_capability(S("* OK [CAPABILITY IMAP4rev1] MOVE it\r\n"),
	    "MOVE"));

	assert_true(feedback_imap_listed(S("* LIST (\\HasNoChildren) \".\" distd-done\r\n"
	    "A3 OK List completed.\r\n")));
	assert_false(feedback_imap_listed(S("A3 OK List completed.\r\n")));
	assert_false(feedback_imap_listed(S("* LSUB () \".\" x\r\n")));
	feedback_imap_tagged(S("* BYE\r\nA004 NO [TRYCREATE] Mailbox doesn't exist: x\r\n"),
	    t, sizeof(t));
	assert_string_equal(t, "NO [TRYCREATE] Mailbox doesn't exist: x");
	feedback_imap_tagged(S("* 1 EXISTS\r\n"), t, sizeof(t));
	assert_string_equal(t, "");
	feedback_imap_tagged(S("A1 NO a\x01\x7f b\r\n"), t, sizeof(t));
	assert_string_equal(t, "NO a?? b");
}

static void
test_folder_and_date(void **state)
{
	(void)state;
	char *f;

	f = feedback_imap_folder("INBOX");
	assert_string_equal(f, "\"INBOX\"");
	free(f);
	f = feedback_imap_folder("distd-done");
	assert_string_equal(f, "\"distd-done\"");
	free(f);
	/* RFC 3501 5.1.3's example, and '&' itself */
	f = feedback_imap_folder("~peter/mail/台北/日本語");
	assert_string_equal(f, "\"~peter/mail/&U,BTFw-/&ZeVnLIqe-\"");
	free(f);
	f = feedback_imap_folder("A&B \"q\"");
	assert_string_equal(f, "\"A&-B \\\"q\\\"\"");
	free(f);

	static const char m[] = "From: a@b\r\nDate: Tue, 24 Nov 2026\r\n 03:00:00 +0800\r\n"
	    "Subject: x\r\n\r\nDate: Mon, 1 Jan 2001 00:00:00 +0000\r\n";
	assert_int_equal(feedback_imap_date(S(m)), 1795460400);
	assert_int_equal(feedback_imap_date(S("Subject: x\r\n\r\nDate: Mon, 1 Jan 2001 "
	    "00:00:00 +0000\r\n")), 0);
	assert_int_equal(feedback_imap_date(S("Date: yesterday\r\n\r\n")), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uidvalidity),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_size_capability_tagged),
		cmocka_unit_test(test_folder_and_date),
	};
	return cmocka_run_group_tests_name("feedback_collect", tests, NULL, NULL);
}
