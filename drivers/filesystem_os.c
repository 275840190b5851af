/* The filesystem driver's OS helpers: path building, mkdir -p, fsync of a
 * directory, I/O loops, tree removal, errors. */
#include "filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Longest name prefix kept in temporary and partial names: both must stay
 * within NAME_MAX (255) whatever the length of the stored name. */
#define FS_TEMP_PREFIX_MAX 200
#define FS_PARTIAL_SUFFIX "~partial"
#define FS_PARTIAL_SUFFIX_LEN 8
#define FS_PARTIAL_PREFIX_MAX (NAME_MAX - FS_PARTIAL_SUFFIX_LEN - 17)

/* getdents64 buffer per directory level of a removal (heap: trees can be deep). */
#define FS_DENTS_BUF (16 * 1024)

int fs_path_make(const fs_driver *d, const char *path, fs_path *out)
{
    size_t plen = strlen(path);
    if (d->root_len + plen >= sizeof out->s) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out->s, d->root, d->root_len);
    memcpy(out->s + d->root_len, path, plen + 1);
    out->len = d->root_len + plen;
    /* "/" with the filesystem root as root: "" would not name a directory. */
    if (out->len == 0) {
        out->s[0] = '/';
        out->s[1] = '\0';
        out->len = 1;
    }
    return 0;
}

static size_t last_slash(const char *p, size_t len)
{
    size_t i = len;
    while (i > 0 && p[i - 1] != '/')
        i--;
    return i > 0 ? i - 1 : 0;
}

size_t fs_dir_len(const char *p, size_t len)
{
    size_t s = last_slash(p, len);
    return s > 0 ? s : 1;
}

static void put_hex64(char *dst, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        dst[i] = digits[v & 15];
        v >>= 4;
    }
}

/* FNV-1a: only to shorten over-long names into a stable partial name. */
static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int fs_path_partial(const fs_path *p, fs_path *out)
{
    size_t slash = last_slash(p->s, p->len);
    const char *base = p->s + slash + 1;
    size_t blen = p->len - slash - 1;
    size_t keep = blen, need;
    bool hashed = blen + FS_PARTIAL_SUFFIX_LEN > NAME_MAX;
    if (hashed)
        keep = FS_PARTIAL_PREFIX_MAX; /* + "~" + 16 hex */
    need = slash + 1 + keep + (hashed ? 17 : 0) + FS_PARTIAL_SUFFIX_LEN;
    if (need >= sizeof out->s) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out->s, p->s, slash + 1 + keep);
    char *w = out->s + slash + 1 + keep;
    if (hashed) {
        *w++ = '~';
        put_hex64(w, fnv1a64(base, blen));
        w += 16;
    }
    memcpy(w, FS_PARTIAL_SUFFIX, FS_PARTIAL_SUFFIX_LEN + 1);
    out->len = need;
    return 0;
}

/* splitmix64: spreads the per-driver seed and sequence over 64 bits. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int fs_path_temp(fs_driver *d, const fs_path *p, fs_path *out)
{
    size_t slash = last_slash(p->s, p->len);
    size_t blen = p->len - slash - 1;
    size_t keep = blen < FS_TEMP_PREFIX_MAX ? blen : FS_TEMP_PREFIX_MAX;
    size_t need = slash + 2 + keep + 5 + 16;
    if (need >= sizeof out->s) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out->s, p->s, slash + 1);
    char *w = out->s + slash + 1;
    *w++ = '.';
    memcpy(w, p->s + slash + 1, keep);
    w += keep;
    memcpy(w, "~tmp.", 5);
    w += 5;
    uint64_t seq = atomic_fetch_add_explicit(&d->tmp_seq, 1, memory_order_relaxed);
    put_hex64(w, mix64(d->tmp_seed ^ mix64(seq)));
    w[16] = '\0';
    out->len = need;
    return 0;
}

int fs_mkdirs(char *p, size_t len)
{
    if (len == 0)
        return 0;
    if (mkdir(p, 0777) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    size_t plen = last_slash(p, len);
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    if (plen == 0) {
        errno = ENOENT;
        return -1;
    }
    char saved = p[plen];
    p[plen] = '\0';
    int r = fs_mkdirs(p, plen);
    p[plen] = saved;
    if (r != 0)
        return -1;
    /* EEXIST: someone else created it meanwhile, or it is a file, which the
     * caller's next open reports as ENOTDIR. */
    if (mkdir(p, 0777) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int fs_mkdir_parent(fs_path *p)
{
    size_t slash = last_slash(p->s, p->len);
    if (slash == 0)
        return 0; /* the filesystem root */
    p->s[slash] = '\0';
    int r = fs_mkdirs(p->s, slash);
    int e = errno;
    p->s[slash] = '/';
    errno = e;
    return r;
}

int fs_fsync_parent(const char *p, size_t len)
{
    char dir[PATH_MAX];
    size_t dlen = fs_dir_len(p, len);
    memcpy(dir, p, dlen);
    dir[dlen] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

int fs_writev_all(int fd, const void *a, size_t alen, const void *b, size_t blen,
                  size_t *done)
{
    struct iovec iov[2];
    int cnt = 0;
    if (alen > 0)
        iov[cnt++] = (struct iovec){(void *)a, alen};
    if (blen > 0)
        iov[cnt++] = (struct iovec){(void *)b, blen};
    struct iovec *v = iov;
    *done = 0;
    while (cnt > 0) {
        ssize_t n = cnt == 1 ? write(fd, v->iov_base, v->iov_len) : writev(fd, v, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO; /* a regular file does not take 0 bytes without an error */
        *done += (size_t)n;
        size_t left = (size_t)n;
        while (cnt > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return 0;
}

static int copy_by_read(int src, int dst, int64_t *copied)
{
    size_t cap = 128 * 1024;
    char *buf = malloc(cap);
    if (!buf)
        return ENOMEM;
    int e = 0;
    for (;;) {
        ssize_t n = read(src, buf, cap);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        if (n == 0)
            break;
        size_t done = 0;
        e = fs_writev_all(dst, buf, (size_t)n, NULL, 0, &done);
        *copied += (int64_t)done;
        if (e)
            break;
    }
    free(buf);
    return e;
}

int fs_copy_fd(int src, int dst, int64_t *copied)
{
    *copied = 0;
    for (;;) {
        ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)1 << 30, 0);
        if (n > 0) {
            *copied += n;
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        /* Not supported here (another filesystem, an old kernel, a special
         * file): plain reads and writes from the current positions. */
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
            errno == EPERM)
            return copy_by_read(src, dst, copied);
        return errno;
    }
}

bool fs_valid_name(const char *name)
{
    if (name[0] == '\0' || (name[0] == '.' && (name[1] == '\0' ||
                                               (name[1] == '.' && name[2] == '\0'))))
        return false;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
            return false;
    }
    return true;
}

static int remove_contents(int fd);

int fs_remove_tree(int dirfd, const char *name)
{
    /* A few passes: entries created by someone else while we empty the
     * directory make rmdir fail with ENOTEMPTY. */
    for (int pass = 0;; pass++) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                return 0;
            if (errno == ENOTDIR || errno == ELOOP) /* replaced by a file or a link */
                return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : errno;
            return errno;
        }
        int e = remove_contents(fd); /* closes fd */
        if (e)
            return e;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if ((errno != ENOTEMPTY && errno != EEXIST) || pass >= 4)
            return errno;
    }
}

/* Removes every entry of the directory open as fd, then closes fd. */
static int remove_contents(int fd)
{
    char *buf = malloc(FS_DENTS_BUF);
    if (!buf) {
        close(fd);
        return ENOMEM;
    }
    int e = 0;
    for (;;) {
        ssize_t n = getdents64(fd, buf, FS_DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n && !e;) {
            struct dirent64 *de = (struct dirent64 *)(buf + off);
            off += de->d_reclen;
            const char *nm = de->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
                continue;
            if (de->d_type == DT_DIR) {
                e = fs_remove_tree(fd, nm);
            } else if (unlinkat(fd, nm, 0) != 0) {
                if (errno == EISDIR) /* d_type was DT_UNKNOWN */
                    e = fs_remove_tree(fd, nm);
                else if (errno != ENOENT)
                    e = errno;
            }
        }
        if (e)
            break;
    }
    free(buf);
    close(fd);
    return e;
}

sd_error *fs_oom(void)
{
    return sd_err_driver("out of memory");
}

sd_error *fs_err(int e, const char *op, const char *path)
{
    /* Files are opened with O_NOFOLLOW: ELOOP means a planted symbolic link. */
    if (e == ELOOP)
        return sd_err_driver("%s %s: is a symbolic link, which is not followed", op, path);
    return sd_err_errno(e, "%s %s", op, path);
}

sd_error *fs_err_read(int e, const char *op, const char *path)
{
    if (fs_missing(e))
        return sd_err_path_not_found(path);
    return fs_err(e, op, path);
}
