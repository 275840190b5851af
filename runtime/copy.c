/* sd_copy: a stream from one driver into another through one fixed buffer. */
#include "storagedriver.h"

#include <stdlib.h>

enum { COPY_CHUNK = 1 << 20 };

sd_error *sd_copy(sd_driver *src, const char *src_path, sd_driver *dst,
                  const char *dst_path, int64_t *copied)
{
    int64_t total = 0;
    sd_reader *r = NULL;
    sd_writer *w = NULL;
    sd_error *e = sd_reader_open(src, src_path, 0, &r);
    if (e)
        return e;
    e = sd_writer_open(dst, dst_path, false, &w);
    if (e) {
        sd_reader_close(r);
        return e;
    }
    char *buf = malloc(COPY_CHUNK);
    if (!buf) {
        e = sd_err_driver("out of memory");
        sd_error_set_driver(e, sd_driver_name(dst));
    }
    while (!e) {
        size_t n = 0;
        e = sd_reader_read(r, buf, COPY_CHUNK, &n);
        if (e || n == 0)
            break;
        e = sd_writer_write(w, buf, n);
        total += (int64_t)n;
    }
    free(buf);
    sd_reader_close(r);
    if (!e)
        e = sd_writer_commit(w);
    if (e)
        sd_error_free(sd_writer_cancel(w)); /* the copy's error is the one to report */
    sd_writer_free(w);
    if (!e && copied)
        *copied = total;
    return e;
}
