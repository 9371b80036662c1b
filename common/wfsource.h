/* wfsource — the text of a workflow file with its @include lines expanded,
 * and where each line of that text came from.
 *
 * A line `@include "FILE"` (alone on its line, as libconfig writes it; a
 * comment may follow) is replaced by FILE's lines, recursively. A relative
 * FILE is resolved against the folder of the file that holds the
 * directive; at most WFSOURCE_MAX_DEPTH levels and WFSOURCE_MAX_FILES
 * files (a file including itself ends there); only regular files are read
 * (opened non-blocking, so a FIFO cannot hang the CLI). libconfig 1.5 could
 * do the inclusion itself, but only against one fixed folder and without
 * telling which file a line came from; here every line of the expanded
 * text maps back to its file and line, so a message about it can say
 * "included.cfg:4:".
 *
 * Lines are numbered from 1 in the expanded text (what libconfig reports).
 * A line outside the text maps to the top file and the same number.
 *
 * Ownership: wfsource_expand returns an object the caller frees with
 * wfsource_destroy; every string it hands out lives as long as it does.
 */
#ifndef DROVER_WFSOURCE_H
#define DROVER_WFSOURCE_H

#include <stddef.h>

#define WFSOURCE_MAX_DEPTH 8
#define WFSOURCE_MAX_FILES 64

typedef struct wfsource wfsource_t;

/* Expands text (the contents of path; path is used for messages and as
 * the folder of its relative includes; NULL = "<string>", relative to the
 * current directory), bounded to max bytes in all. Returns the source, or
 * NULL with errno EINVAL (a bad or unreadable include, too large, too deep:
 * "file:line: message" in err) or ENOMEM. */
wfsource_t *wfsource_expand(const char *text, const char *path, size_t max, char *err,
                            size_t errlen);

/* The expanded text (NUL-terminated). */
const char *wfsource_text(const wfsource_t *src);

/* The file (as named: the given path, or the include joined to its
 * folder) and the line in it that line of the expanded text came from. */
const char *wfsource_file(const wfsource_t *src, int line);
int wfsource_line(const wfsource_t *src, int line);

/* The realpath of the folder of the file that holds line (cached): what a
 * relative path written on that line is relative to. NULL with errno set
 * when it cannot be resolved. */
const char *wfsource_basedir(wfsource_t *src, int line);

/* Frees src and nulls the caller's pointer; NULL-safe. */
void wfsource_destroy(wfsource_t **src);

#endif
