#ifndef DISTD_FILEIO_H
#define DISTD_FILEIO_H

#include <stddef.h>

/* fileio_read_all flags (1 stays "no follow" for the callers that pass it). */
#define FILEIO_NOFOLLOW 0x1	/* a symbolic link is refused (O_NOFOLLOW) */
#define FILEIO_ONE_LINK 0x2	/* a file with more than one hard link is refused */

/*
 * Reads a whole regular file into memory (NUL-terminated; caller frees).
 * flags: FILEIO_NOFOLLOW, FILEIO_ONE_LINK (checked on the open file, so
 * no link can be swapped in between). Files larger than max bytes are
 * refused without being read. Returns 0, or -1 with a message naming the
 * path in err.
 */
int fileio_read_all(const char *path, size_t max, int flags, char **data,
    size_t *len, char *err, size_t errsz);

/*
 * Moves from_dir/name (a file, a folder or a link) into to_dir under the
 * same name, or name.1, name.2 … when that is taken: never overwrites.
 * On one filesystem that is one rename(2). Across filesystems (EXDEV:
 * an outbox on a share or another disk) it copies to the dot-named
 * to_dir/.name.distd-copy, fsyncs every file and folder, renames the copy
 * into place, fsyncs to_dir, and only then removes the source (renamed to
 * from_dir/.name.distd-moved first, so that a crash never leaves a half
 * source). A crash leaves at worst a second archived copy or a dot-named
 * leftover. Returns 0 and *final (the new path; caller frees), or -1 with
 * err naming the path and what failed; the source is then in place.
 */
int fileio_move(const char *from_dir, const char *name, const char *to_dir,
    char **final, char *err, size_t errsz);

/* Removes the .NAME.distd-moved leftovers of interrupted moves out of dir. */
void fileio_move_cleanup(const char *dir);

/* Removes a file, link or folder tree (links not followed). 0 or -1 (errno). */
int fileio_remove_tree(const char *path);

/* fsync(2) on a folder, so that a rename in it is durable. 0 or -1 (errno). */
int fileio_fsync_dir(const char *dir);

#endif
