/* The structural JSON writer: commas by depth, escapes, misuse refused whole. */
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "text.h"

static int
utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void
test_nesting_and_commas(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128];

	(void)state;
	json_start(&w, &b);
	json_begin_object(&w);
	json_member_number(&w, "id", 17);
	json_key(&w, "tiers");
	json_begin_array(&w);
	for (int i = 0; i < 3; i++) {
		json_begin_object(&w);
		json_member_string(&w, "tier", i == 0 ? "报" : i == 1 ? "送" : "发");
		json_key(&w, "empty");
		json_begin_array(&w);
		json_end_array(&w);
		json_key(&w, "inner");
		json_begin_object(&w);
		json_end_object(&w);
		json_end_object(&w);
	}
	json_end_array(&w);
	json_key(&w, "list");
	json_begin_array(&w);
	json_number(&w, 1);
	json_null(&w);
	json_bool(&w, false);
	json_string(&w, "x");
	json_end_array(&w);
	json_member_bool(&w, "ok", true);
	json_end_object(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_string_equal(sbuf_str(&b),
	    "{\"id\":17,\"tiers\":[{\"tier\":\"报\",\"empty\":[],\"inner\":{}},"
	    "{\"tier\":\"送\",\"empty\":[],\"inner\":{}},"
	    "{\"tier\":\"发\",\"empty\":[],\"inner\":{}}],"
	    "\"list\":[1,null,false,\"x\"],\"ok\":true}");
	sbuf_free(&b);
}

static void
test_scalars_and_nulls(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128];

	(void)state;
	json_start(&w, &b);
	json_begin_object(&w);
	json_member_string(&w, "title", "简报\"\\\n\x01");
	json_member_number_or_null(&w, "n", -1);
	json_member_number_or_null(&w, "m", 29);
	json_member_string(&w, "s", NULL);
	json_member_time(&w, "never", 0);
	json_member_time(&w, "at", 1795420800);	/* 2026-11-23 08:00 UTC */
	json_key(&w, "hex");
	json_hexstring(&w, "\xb5\xda");
	json_key(&w, "nohex");
	json_hexstring(&w, NULL);
	json_member_number(&w, "negative", -5);
	json_end_object(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_string_equal(sbuf_str(&b),
	    "{\"title\":\"简报\\\"\\\\\\n\\u0001\",\"n\":null,\"m\":29,\"s\":null,"
	    "\"never\":null,\"at\":\"2026-11-23T08:00:00+00:00\",\"hex\":\"b5da\","
	    "\"nohex\":null,\"negative\":-5}");
	sbuf_free(&b);
}

static void
test_invalid_utf8_and_controls_stay_valid(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128];

	(void)state;
	json_start(&w, &b);
	json_begin_array(&w);
	/* a GBK file name, an escape sequence, a C1 control, U+2028 */
	json_string(&w, "\xb5\xda" "29\x1b[2J\xc2\x9b\xe2\x80\xa8");
	/* a key is escaped like any string */
	json_end_array(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_string_equal(sbuf_str(&b),
	    "[\"\xef\xbf\xbd\xef\xbf\xbd" "29\\u001b[2J\\u009b\\u2028\"]");
	assert_true(text_valid_utf8(sbuf_str(&b), b.len, NULL));
	sbuf_reset(&b);
	json_start(&w, &b);
	json_begin_object(&w);
	json_member_number(&w, "a\"b\xff", 1);
	json_end_object(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_string_equal(sbuf_str(&b), "{\"a\\\"b\xef\xbf\xbd\":1}");
	sbuf_free(&b);
}

/* Runs a misuse after "prefix" was in the buffer: nothing of the document stays. */
static void
refused(void (*body)(struct json_writer *), const char *expect)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128] = "";

	sbuf_puts(&b, "prefix");
	json_start(&w, &b);
	body(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), -1);
	assert_string_equal(sbuf_str(&b), "prefix");
	if (strstr(err, expect) == NULL)
		fail_msg("error '%s' does not say '%s'", err, expect);
	sbuf_free(&b);
}

static void
value_without_key(struct json_writer *w)
{
	json_begin_object(w);
	json_number(w, 1);
	json_end_object(w);
}

static void
key_in_array(struct json_writer *w)
{
	json_begin_array(w);
	json_key(w, "k");
	json_number(w, 1);
	json_end_array(w);
}

static void
key_twice(struct json_writer *w)
{
	json_begin_object(w);
	json_key(w, "a");
	json_key(w, "b");
	json_number(w, 1);
	json_end_object(w);
}

static void
key_without_value(struct json_writer *w)
{
	json_begin_object(w);
	json_key(w, "a");
	json_end_object(w);
}

static void
wrong_close(struct json_writer *w)
{
	json_begin_object(w);
	json_end_array(w);
}

static void
left_open(struct json_writer *w)
{
	json_begin_array(w);
	json_number(w, 1);
}

static void
two_documents(struct json_writer *w)
{
	json_begin_object(w);
	json_end_object(w);
	json_begin_object(w);
	json_end_object(w);
}

static void
too_deep(struct json_writer *w)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_begin_array(w);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_end_array(w);
}

static void
nothing(struct json_writer *w)
{
	(void)w;
}

static void
test_misuse_reported_not_written(void **state)
{
	(void)state;
	refused(value_without_key, "without its key");
	refused(key_in_array, "key outside an object");
	refused(key_twice, "key without its value");
	refused(key_without_value, "key without its value");
	refused(wrong_close, "closing an array that is not open");
	refused(left_open, "left open");
	refused(two_documents, "second value");
	refused(too_deep, "deeper");
	refused(nothing, "empty document");
}

static void
test_depth_limit_itself_is_fine(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128];

	(void)state;
	json_start(&w, &b);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_begin_array(&w);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_end_array(&w);
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_int_equal(b.len, 2 * JSON_MAX_DEPTH);
	sbuf_free(&b);
}

/* A scalar alone is a document too (JSON Lines of numbers, say). */
static void
test_top_level_scalar(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	char err[128];

	(void)state;
	json_start(&w, &b);
	json_string(&w, "only");
	assert_int_equal(json_finish(&w, err, sizeof(err)), 0);
	assert_string_equal(sbuf_str(&b), "\"only\"");
	sbuf_free(&b);
}

/* A fixed structure that is wrong is a bug: it ends the program, it does not print. */
static void
test_fixed_structure_misuse_aborts(void **state)
{
	struct json_writer w;
	struct sbuf b = SBUF_INIT;
	int status;

	(void)state;
	json_start(&w, &b);
	json_begin_array(&w);
	json_end_array(&w);
	json_finish_fixed(&w);
	assert_string_equal(sbuf_str(&b), "[]");
	sbuf_free(&b);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sbuf c = SBUF_INIT;
		/* the message is the expected one: keep the test's output clean */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		json_start(&w, &c);
		json_begin_object(&w);
		json_finish_fixed(&w);	/* left open */
		fputs(sbuf_str(&c), stdout);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test_setup(test_scalars_and_nulls, utc),
		cmocka_unit_test(test_invalid_utf8_and_controls_stay_valid),
		cmocka_unit_test(test_misuse_reported_not_written),
		cmocka_unit_test(test_depth_limit_itself_is_fine),
		cmocka_unit_test(test_top_level_scalar),
		cmocka_unit_test(test_fixed_structure_misuse_aborts),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
