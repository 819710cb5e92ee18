#include "testutil.h"

#include "address.h"
#include "json.h"

static void
test_valid(void **state)
{
	(void)state;
	char why[128];
	const char *ok[] = { "office@wmb.example.test", "a.b+c@example.test",
		"\"quoted name\"@example.test", "x@[127.0.0.1]", "o'neil@sub-1.example.test" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!address_valid(ok[i], why, sizeof(why)))
			fail_msg("%s: %s", ok[i], why);
}

static void
test_invalid(void **state)
{
	(void)state;
	char why[128];
	struct { const char *addr, *why; } bad[] = {
		{ "office@", "the domain after '@' is empty" },
		{ "@example.test", "the part before '@' is empty" },
		{ "office", "no '@'" },
		{ "a..b@example.test", "misplaced '.'" },
		{ "a@localhost", "the domain has no dot" },
		{ "a@-x.example.test", "starts with '-'" },
		{ "a b@example.test", "white space" },
		{ "张三@example.test", "non-ASCII local part" },
		{ "a@例子.test", "non-ASCII domain" },
		{ "a@x_y.example.test", "'_' is not allowed" },
		{ "a@[300.1.1.1]", "not [IPv4]" },
		{ "a\r\nBcc: x@example.test", "white space or a control character" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (address_valid(bad[i].addr, why, sizeof(why)))
			fail_msg("%s accepted", bad[i].addr);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i].addr, why, bad[i].why);
	}
}

static void
test_mailbox(void **state)
{
	(void)state;
	char why[128], *display, *addr;

	assert_int_equal(address_parse_mailbox("首都精神文明办 <bulletin@example.test>",
	    &display, &addr, why, sizeof(why)), 0);
	assert_string_equal(display, "首都精神文明办");
	assert_string_equal(addr, "bulletin@example.test");
	free(display);
	free(addr);

	assert_int_equal(address_parse_mailbox("\"Office, Main\" <o@example.test>",
	    &display, &addr, why, sizeof(why)), 0);
	assert_string_equal(display, "Office, Main");
	free(display);
	free(addr);

	assert_int_equal(address_parse_mailbox(" o@example.test ", &display, &addr,
	    why, sizeof(why)), 0);
	assert_null(display);
	assert_string_equal(addr, "o@example.test");
	free(addr);

	assert_int_equal(address_parse_mailbox("Name <o@example.test> trailing",
	    &display, &addr, why, sizeof(why)), -1);
	assert_int_equal(address_parse_mailbox("Name <o@>", &display, &addr, why,
	    sizeof(why)), -1);
	assert_null(addr);

	/* the address's own fault is named */
	assert_int_equal(address_parse_mailbox("Name <o@>", &display, &addr, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "the domain after '@' is empty");

	/* RFC 5322 forms GMime reads: encoded words, no space before '<' */
	assert_int_equal(address_parse_mailbox("=?UTF-8?B?5Yqe5YWs5a6k?= <o@example.test>",
	    &display, &addr, why, sizeof(why)), 0);
	assert_string_equal(display, "办公室");
	free(display);
	free(addr);
	assert_int_equal(address_parse_mailbox("办公室<o@example.test>", &display, &addr,
	    why, sizeof(why)), 0);
	assert_string_equal(display, "办公室");
	assert_string_equal(addr, "o@example.test");
	free(display);
	free(addr);

	/* one mailbox, whole: no list, no group, no missing '>' */
	assert_int_equal(address_parse_mailbox("a@example.test, b@example.test", &display,
	    &addr, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a list or a group"));
	assert_int_equal(address_parse_mailbox("office: a@example.test;", &display, &addr,
	    why, sizeof(why)), -1);
	assert_int_equal(address_parse_mailbox("Name <o@example.test", &display, &addr,
	    why, sizeof(why)), -1);
	assert_string_equal(why, "expected 'Name <address>' or an address");
	assert_null(display);
	assert_null(addr);
	/* address_valid's envelope rules still hold behind the parser */
	assert_int_equal(address_parse_mailbox("Name <o@nodot>", &display, &addr, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "the domain has no dot");

	char *k = address_key("Office@Example.TEST");
	assert_string_equal(k, "office@example.test");
	free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_mailbox),
	};
	return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
