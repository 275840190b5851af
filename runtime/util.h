/* Internal helpers shared by the runtime and the drivers (not public API). */
#ifndef SD_UTIL_H
#define SD_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* NULL on OOM (or when s is NULL). */
char *sd_strdup(const char *s);
char *sd_strndup(const char *s, size_t n);
/* printf into a malloc'd string; NULL on OOM. */
char *sd_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".  malloc'd, NULL on OOM. */
char *sd_path_join(const char *dir, const char *name);
/* "/a/b" -> "/a"; "/a" -> "/"; "/" -> "/".  malloc'd, NULL on OOM. */
char *sd_path_parent(const char *path);
/* Pointer to the last component of path (after the last '/'). */
const char *sd_path_base(const char *path);

/* A counting semaphore that caps concurrent calls (the reference's
 * regulator).  Owned by one driver instance. */
typedef struct sd_regulator {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t available;
} sd_regulator;

int sd_regulator_init(sd_regulator *r, int64_t limit);
void sd_regulator_enter(sd_regulator *r);
void sd_regulator_leave(sd_regulator *r);
void sd_regulator_destroy(sd_regulator *r);

#endif
