/* Unit tests for daemon/util/fileio.c: whole-file reads, no-replace moves, tree removal. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"

/* A fresh folder under /tmp with a and b inside it; returns the top (free it). */
static char *
make_dirs(void)
{
	char *top = strdup("/tmp/distd-fileio-XXXXXX"), p[256];

	assert_non_null(mkdtemp(top));
	snprintf(p, sizeof(p), "%s/a", top);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/b", top);
	assert_int_equal(mkdir(p, 0755), 0);
	return top;
}

static void
put(const char *dir, const char *name, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	char *data, err[256];
	size_t len;

	if (fileio_read_all(path, 1 << 20, 0, &data, &len, err, sizeof(err)) < 0)
		return NULL;
	return data;
}

static void
test_read_all_refuses_links_folders_and_oversize(void **state)
{
	(void)state;
	char *path = write_temp("简报正文", 0644), err[512], *data;
	size_t len;
	char link[300];

	assert_int_equal(fileio_read_all(path, 1024, 1, &data, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen("简报正文"));
	assert_string_equal(data, "简报正文");
	free(data);
	/* over the limit: refused without reading, naming the setting */
	assert_int_equal(fileio_read_all(path, 4, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "limits.max_issue_bytes"));
	/* a symbolic link is refused with O_NOFOLLOW */
	snprintf(link, sizeof(link), "%s.link", path);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fileio_read_all(link, 1024, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_int_equal(fileio_read_all(link, 1024, 0, &data, &len, err, sizeof(err)), 0);
	free(data);
	assert_int_equal(fileio_read_all("/tmp", 1024, 1, &data, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(link);
	unlink(path);
	free(path);
}

static void
test_read_all_one_link_refuses_a_hard_link(void **state)
{
	(void)state;
	char *path = write_temp("正文", 0644), hard[300], err[512], *data;
	size_t len;

	assert_int_equal(fileio_read_all(path, 1024, FILEIO_ONE_LINK, &data, &len, err,
	    sizeof(err)), 0);
	free(data);
	snprintf(hard, sizeof(hard), "%s.hard", path);
	assert_int_equal(link(path, hard), 0);
	assert_int_equal(fileio_read_all(path, 1024, FILEIO_ONE_LINK, &data, &len, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	/* without the flag a second link is fine */
	assert_int_equal(fileio_read_all(path, 1024, 0, &data, &len, err, sizeof(err)), 0);
	free(data);
	unlink(hard);
	unlink(path);
	free(path);
}

static void
test_move_never_overwrites(void **state)
{
	(void)state;
	char *top = make_dirs(), from[256], to[256], *final = NULL, err[512], *text;

	snprintf(from, sizeof(from), "%s/a", top);
	snprintf(to, sizeof(to), "%s/b", top);
	put(from, "第1期.txt", "new");
	put(to, "第1期.txt", "archived before");
	assert_int_equal(fileio_move(from, "第1期.txt", to, &final, err, sizeof(err)), 0);
	/* the name was taken: the moved file gets name.1, the old one stays */
	assert_non_null(strstr(final, "/b/第1期.txt.1"));
	assert_string_equal((text = slurp(final)), "new");
	free(text);
	char kept[300];
	snprintf(kept, sizeof(kept), "%s/第1期.txt", to);
	assert_string_equal((text = slurp(kept)), "archived before");
	free(text);
	snprintf(kept, sizeof(kept), "%s/第1期.txt", from);
	assert_int_equal(access(kept, F_OK), -1);
	free(final);
	assert_int_equal(fileio_remove_tree(top), 0);
	free(top);
}

static void
test_move_a_missing_source_leaves_nothing(void **state)
{
	(void)state;
	char *top = make_dirs(), from[256], to[256], *final = NULL, err[512];

	snprintf(from, sizeof(from), "%s/a", top);
	snprintf(to, sizeof(to), "%s/b", top);
	assert_int_equal(fileio_move(from, "gone.txt", to, &final, err, sizeof(err)), -1);
	assert_null(final);
	assert_non_null(strstr(err, "gone.txt"));
	assert_int_equal(fileio_remove_tree(top), 0);
	free(top);
}

static void
test_move_cleanup_removes_only_leftovers(void **state)
{
	(void)state;
	char *top = make_dirs(), dir[256], p[300];

	snprintf(dir, sizeof(dir), "%s/a", top);
	put(dir, ".第1期.txt.distd-moved", "leftover");
	put(dir, "第2期.txt", "waiting issue");
	put(dir, ".第3期.txt.tmp", "being written");
	snprintf(p, sizeof(p), "%s/.folder.distd-moved", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	put(p, "inside.txt", "x");
	fileio_move_cleanup(dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/.第1期.txt.distd-moved", dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/第2期.txt", dir);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/.第3期.txt.tmp", dir);
	assert_int_equal(access(p, F_OK), 0);
	/* a folder that does not exist is no error */
	fileio_move_cleanup("/nonexistent/distd");
	assert_int_equal(fileio_remove_tree(top), 0);
	free(top);
}

static void
test_remove_tree_does_not_follow_links(void **state)
{
	(void)state;
	char *top = make_dirs(), a[256], b[256], link[300], keep[300];

	snprintf(a, sizeof(a), "%s/a", top);
	snprintf(b, sizeof(b), "%s/b", top);
	put(b, "precious.txt", "keep me");
	snprintf(link, sizeof(link), "%s/to-b", a);
	assert_int_equal(symlink(b, link), 0);
	assert_int_equal(fileio_remove_tree(a), 0);
	assert_int_equal(access(a, F_OK), -1);
	snprintf(keep, sizeof(keep), "%s/precious.txt", b);
	assert_int_equal(access(keep, F_OK), 0);
	assert_int_equal(fileio_remove_tree(top), 0);
	assert_int_equal(access(top, F_OK), -1);
	free(top);
}

static void
test_fsync_dir(void **state)
{
	(void)state;
	assert_int_equal(fileio_fsync_dir("/tmp"), 0);
	assert_int_equal(fileio_fsync_dir("/nonexistent/distd"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_all_refuses_links_folders_and_oversize),
		cmocka_unit_test(test_read_all_one_link_refuses_a_hard_link),
		cmocka_unit_test(test_move_never_overwrites),
		cmocka_unit_test(test_move_a_missing_source_leaves_nothing),
		cmocka_unit_test(test_move_cleanup_removes_only_leftovers),
		cmocka_unit_test(test_remove_tree_does_not_follow_links),
		cmocka_unit_test(test_fsync_dir),
	};
	log_init(false);
	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
