/* The baseline for `make bench`: a plain C loop doing the system calls the
 * filesystem driver does (sync=false) for the reference's PutGet and Stream
 * shapes, with nothing else around them.  Prints the median µs per iteration.
 *
 *   fsloop putget|stream SIZE ITERATIONS DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* mkdir -p, deepest first, as the driver does after an ENOENT. */
static int mkdirs(char *p)
{
    if (mkdir(p, 0777) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    char *slash = strrchr(p, '/');
    if (!slash || slash == p)
        return -1;
    *slash = '\0';
    int r = mkdirs(p);
    *slash = '/';
    return r != 0 ? -1 : (mkdir(p, 0777) == 0 || errno == EEXIST ? 0 : -1);
}

static int open_creating_parents(char *path, int flags)
{
    int fd = open(path, flags, 0666);
    if (fd < 0 && errno == ENOENT) {
        char *slash = strrchr(path, '/');
        *slash = '\0';
        mkdirs(path);
        *slash = '/';
        fd = open(path, flags, 0666);
    }
    return fd;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    int stream = strcmp(argv[1], "stream") == 0;
    size_t size = strtoull(argv[2], NULL, 10);
    int iters = atoi(argv[3]);
    const char *dir = argv[4];
    char *data = malloc(size + 1), *back = malloc(size + 1);
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!data || !back || !t)
        return 1;
    memset(data, 'x', size);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        die("mkdir");
    srand(42);
    char final[4096], side[4200];
    for (int i = 0; i < iters; i++) {
        /* a fresh three-level path per iteration, like the benchmark's */
        snprintf(final, sizeof final, "%s/%08x%02d/%08x%02d/%08x%02d", dir, rand(), i % 100,
                 rand(), i % 100, rand(), i % 100);
        char *base = strrchr(final, '/');
        double t0 = now_us();
        if (!stream) {
            snprintf(side, sizeof side, "%.*s/.%s~tmp.%016x", (int)(base - final), final,
                     base + 1, (unsigned)i);
            int fd = open_creating_parents(side, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
            if (fd < 0)
                die("open temp");
            if (size && write(fd, data, size) != (ssize_t)size)
                die("write");
            close(fd);
            if (rename(side, final) != 0)
                die("rename");
            fd = open(final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0)
                die("open/fstat");
            if (size && read(fd, back, (size_t)st.st_size) != (ssize_t)size)
                die("read");
            close(fd);
        } else {
            snprintf(side, sizeof side, "%s~partial", final);
            int fd = open_creating_parents(side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0)
                die("open partial");
            if (size && write(fd, data, size) != (ssize_t)size)
                die("write");
            if (rename(side, final) != 0)
                die("rename");
            close(fd);
            fd = open(final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0)
                die("open/fstat");
            close(fd);
        }
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    printf("%.2f\n", med);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
