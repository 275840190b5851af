/* The swift writer: segments of chunksize bytes, uploadconcurrency of them
 * on the wire at once (sd_parts: memory is chunksize x uploadconcurrency),
 * published as a Static Large Object manifest on commit.
 *
 * Requests: none until a chunk is full, and a small object committed at once
 * is one PUT of a plain object.  Each segment is PUT with its MD5 as ETag (the
 * server refuses a corrupted body; checksum=false leaves that out) under <root>segments/<id>/<%016d number>,
 * <id> being this upload's own (time-ordered, random) name.
 *
 * Close sends what is buffered as one more segment and writes the upload's
 * record <root>uploads/<path>: an object holding the segment list (the format
 * of ?multipart-manifest=get) with the upload id in X-Object-Meta-Sd-Upload.
 * writer(path, true) resumes that record when it is newer than the committed
 * object (X-Timestamp); a record older than the object was overtaken by a
 * later commit and is removed with its segments.  Without a record it
 * continues the committed object: an SLO's segments are reused as they are (no
 * byte copied), a plain object is copied server-side into the first segment.
 * Commit PUTs the manifest (?multipart-manifest=put; Swift checks every
 * segment's ETag and size) and deletes the record; cancel deletes this
 * upload's segments and its record. */
#include "swift.h"
#include "../runtime/util.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define SWIFT_META_UPLOAD "X-Object-Meta-Sd-Upload"

typedef struct swift_writer {
    sd_writer base;
    swift_driver *d;
    char *path, *object, *record;
    char id[24];        /* this upload's segments: <root>segments/<id>/ */
    sd_parts *parts;
    bool has_record;    /* the server may hold a record of this upload */
    int64_t sent_plain; /* bytes committed as one plain object, or -1 */
} swift_writer;

/* ------------------------------------------------------------ segments */

static char *seg_name(const swift_writer *w, int num)
{
    return sd_asprintf("%ssegments/%s/%016d", w->d->root, w->id, num);
}

/* Runs on a worker thread: PUTs one segment; tag = "<etag>\t<name>". */
static sd_error *seg_send(void *ud, sd_http_client *c, int num, const void *data, size_t len,
                          char **tag)
{
    swift_writer *w = ud;
    char *name = seg_name(w, num);
    if (!name)
        return swift_oom();
    char line[40];
    const char *hdrs[] = { "Content-Type: application/octet-stream",
                           swift_etag_line(w->d, data, len, line), NULL };
    swift_req r = { .method = "PUT", .object = name, .headers = hdrs, .body = data,
                    .body_len = len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(w->d, c, &r, &resp, NULL);
    /* the MD5 sent, or (checksum off) the one the server computed */
    const char *etag = hdrs[1] ? hdrs[1] + 6 : e ? NULL : sd_http_response_header(&resp, "ETag");
    if (!e && (!etag || !*etag))
        e = sd_err_driver("PUT %s: answer without an ETag", name);
    if (!e && !(*tag = sd_asprintf("%s\t%s", etag, name)))
        e = swift_oom();
    sd_http_response_free(&resp);
    free(name);
    return e;
}

static const sd_parts_ops seg_ops = { .send = seg_send };

/* ------------------------------------------------------------ manifests */

/* The segment list of the parts, as JSON: the manifest (put form) or the
 * record (the form ?multipart-manifest=get gives back). */
static sd_error *parts_json(swift_writer *w, bool put_form, char **out)
{
    const sd_part *parts;
    size_t n;
    sd_error *e = sd_parts_list(w->parts, &parts, &n);
    if (e)
        return e;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const char *tab = strchr(parts[i].tag, '\t');
        char *etag = tab ? sd_strndup(parts[i].tag, (size_t)(tab - parts[i].tag)) : NULL;
        char *path = tab ? sd_asprintf("/%s/%s", w->d->container, tab + 1) : NULL;
        json_t *seg = !etag || !path ? NULL
                      : put_form ? json_pack("{s:s,s:s,s:I}", "path", path, "etag", etag,
                                             "size_bytes", (json_int_t)parts[i].size)
                                 : json_pack("{s:s,s:s,s:I}", "name", path, "hash", etag,
                                             "bytes", (json_int_t)parts[i].size);
        free(etag);
        free(path);
        if (!seg || json_array_append_new(arr, seg)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return *out ? NULL : swift_oom();
}

typedef struct seg_info {
    char *name;     /* in the container */
    char *etag;
    int64_t bytes;
} seg_info;

static void segs_free(seg_info *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        free(s[i].etag);
    }
    free(s);
}

/* Parses a segment list ([{name: "/container/obj", hash, bytes}]). */
static sd_error *segs_parse(swift_driver *d, const char *what, const sd_buf *body,
                            seg_info **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    json_error_t jerr;
    json_t *arr = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return sd_err_driver("%s: not a segment list (%s)", what, jerr.text);
    }
    size_t n = json_array_size(arr), i;
    seg_info *s = calloc(n ? n : 1, sizeof *s);
    size_t clen = strlen(d->container);
    json_t *it;
    sd_error *e = s ? NULL : swift_oom();
    json_array_foreach(arr, i, it) {
        if (e)
            break;
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *hash = json_string_value(json_object_get(it, "hash"));
        json_t *bytes = json_object_get(it, "bytes");
        /* Only segments in our container: a manifest pointing elsewhere is
         * not one this driver wrote. */
        if (!name || !hash || !json_is_integer(bytes) || name[0] != '/' ||
            strncmp(name + 1, d->container, clen) != 0 || name[clen + 1] != '/') {
            e = sd_err_driver("%s: segment %zu is not in container %s", what, i + 1, d->container);
            break;
        }
        s[i].name = sd_strdup(name + clen + 2);
        s[i].etag = sd_strdup(hash);
        s[i].bytes = json_integer_value(bytes);
        if (!s[i].name || !s[i].etag)
            e = swift_oom();
    }
    json_decref(arr);
    if (e) {
        segs_free(s, n);
        return e;
    }
    *out = s;
    *nout = n;
    return NULL;
}

/* GET object?multipart-manifest=get: its segments, and (upload not NULL)
 * the X-Object-Meta-Sd-Upload of a record; *stamp its X-Timestamp. */
static sd_error *manifest_get(swift_driver *d, const char *object, const char *path,
                              seg_info **segs, size_t *n, char **upload, char **stamp)
{
    swift_req r = { .method = "GET", .object = object, .query = "multipart-manifest=get",
                    .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(d, NULL, &r, &resp, path);
    char *what = swift_what(&r);
    if (!e)
        e = segs_parse(d, what ? what : object, &resp.body, segs, n);
    if (!e && upload) {
        const char *u = sd_http_response_header(&resp, SWIFT_META_UPLOAD);
        *upload = u ? sd_strdup(u) : NULL;
    }
    if (!e && stamp) {
        const char *ts = sd_http_response_header(&resp, "X-Timestamp");
        *stamp = ts ? sd_strdup(ts) : NULL;
    }
    free(what);
    sd_http_response_free(&resp);
    return e;
}

sd_error *swift_manifest_segments(swift_driver *d, const char *object, sd_strlist *names)
{
    seg_info *segs = NULL;
    size_t n = 0;
    char *upload = NULL;
    sd_error *e = manifest_get(d, object, object, &segs, &n, &upload, NULL);
    if (e && e->kind == SD_ERR_PATH_NOT_FOUND) {
        sd_error_free(e);
        return NULL;
    }
    /* A record names its upload: only that upload's segments are its own
     * (the others belong to the object it continued). */
    char *own = upload ? sd_asprintf("%ssegments/%s/", d->root, upload) : NULL;
    for (size_t i = 0; !e && i < n; i++)
        if ((!upload || (own && strncmp(segs[i].name, own, strlen(own)) == 0)) &&
            sd_strlist_push(names, segs[i].name))
            e = swift_oom();
    free(own);
    free(upload);
    segs_free(segs, n);
    return e;
}

/* ------------------------------------------------------------ requests */

static sd_error *wr_put(swift_writer *w, const char *object, const char *query,
                        const char *const *hdrs, const void *body, size_t len)
{
    swift_req r = { .method = "PUT", .object = object, .query = query, .headers = hdrs,
                    .body = body, .body_len = len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(w->d, NULL, &r, &resp, NULL);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *wr_delete(swift_driver *d, const char *object)
{
    char *names[] = { (char *)object };
    return swift_delete_objects(d, names, 1);
}

/* Deletes a record and the segments of its upload. */
static sd_error *wr_drop_record(swift_driver *d, const char *record)
{
    sd_strlist segs = {0};
    sd_error *e = swift_manifest_segments(d, record, &segs);
    if (!e)
        e = swift_delete_objects(d, segs.items, segs.len);
    if (!e)
        e = wr_delete(d, record);
    sd_strlist_free(&segs);
    return e;
}

/* Deletes the segments of this upload (all of them, also any sent after the
 * record was written). */
typedef struct own_ctx {
    sd_strlist names;
} own_ctx;

static int own_one(void *ud, const swift_entry *en, sd_error **err)
{
    own_ctx *x = ud;
    if (sd_strlist_push(&x->names, en->name)) {
        *err = swift_oom();
        return -1;
    }
    return 0;
}

static sd_error *wr_drop_segments(swift_writer *w)
{
    char *prefix = sd_asprintf("%ssegments/%s/", w->d->root, w->id);
    if (!prefix)
        return swift_oom();
    own_ctx x = {0};
    sd_error *e = swift_list_each(w->d, prefix, NULL, NULL, own_one, &x);
    if (!e)
        e = swift_delete_objects(w->d, x.names.items, x.names.len);
    sd_strlist_free(&x.names);
    free(prefix);
    return e;
}

/* ------------------------------------------------------------ ops */

static sd_error *wr_write(sd_writer *base, const void *data, size_t len)
{
    swift_writer *w = (swift_writer *)base;
    return sd_parts_write(w->parts, data, len);
}

static int64_t wr_size(sd_writer *base)
{
    swift_writer *w = (swift_writer *)base;
    if (w->sent_plain >= 0)
        return w->sent_plain;
    return sd_parts_flushed(w->parts) + (int64_t)sd_parts_buffered(w->parts, NULL);
}

/* Everything written is on the server as segments. */
static sd_error *wr_flush(swift_writer *w)
{
    sd_error *e = sd_parts_submit(w->parts);
    sd_error *s = sd_parts_settle(w->parts);
    if (e) {
        sd_error_free(s);
        return e;
    }
    return s;
}

static sd_error *wr_close(sd_writer *base)
{
    swift_writer *w = (swift_writer *)base;
    sd_error *e = wr_flush(w);
    char *body = NULL;
    if (!e)
        e = parts_json(w, false, &body);
    char meta[64];
    snprintf(meta, sizeof meta, SWIFT_META_UPLOAD ": %s", w->id);
    const char *hdrs[] = { meta, "Content-Type: application/json", NULL };
    if (!e)
        e = wr_put(w, w->record, NULL, hdrs, body, strlen(body));
    if (!e)
        w->has_record = true;
    free(body);
    return e;
}

/* Deletes the segments of a replaced manifest that the new one does not use
 * (an append keeps them all). */
static sd_error *wr_drop_replaced(swift_writer *w, sd_strlist *old, const sd_part *parts,
                                  size_t n)
{
    sd_strlist gone = {0};
    sd_error *e = NULL;
    for (size_t i = 0; !e && i < old->len; i++) {
        bool used = false;
        for (size_t j = 0; j < n && !used; j++) {
            const char *tab = strchr(parts[j].tag, '\t');
            used = tab && strcmp(tab + 1, old->items[i]) == 0;
        }
        if (!used && sd_strlist_push(&gone, old->items[i]))
            e = swift_oom();
    }
    if (!e)
        e = swift_delete_objects(w->d, gone.items, gone.len);
    sd_strlist_free(&gone);
    return e;
}

static sd_error *wr_commit(sd_writer *base)
{
    swift_writer *w = (swift_writer *)base;
    const char *data = NULL;
    size_t len = sd_parts_buffered(w->parts, &data);
    sd_error *e = NULL;
    if (sd_parts_flushed(w->parts) == 0 && sd_parts_next(w->parts) == 1) {
        /* Nothing sent yet: one plain object. */
        char line[40];
        const char *hdrs[] = { "Content-Type: application/octet-stream",
                               swift_etag_line(w->d, data, len, line), NULL };
        e = wr_put(w, w->object, NULL, hdrs, data ? data : "", len);
        if (!e) {
            w->sent_plain = (int64_t)len;
            sd_parts_discard(w->parts);
        }
    } else {
        const sd_part *parts;
        size_t n = 0;
        char *body = NULL;
        if (!(e = wr_flush(w)) && !(e = sd_parts_list(w->parts, &parts, &n)) &&
            (int64_t)n > w->d->max_segments)
            e = sd_err_driver("%s: %zu segments, over the cluster's %lld per manifest "
                              "(raise chunksize)", w->path, n, (long long)w->d->max_segments);
        if (!e)
            e = parts_json(w, true, &body);
        /* the large object this one replaces: its segments go after the PUT */
        sd_strlist old = {0};
        swift_head h = {0};
        if (!e) {
            /* not knowing them (a manifest of other tools) costs a leak, not the commit */
            sd_error *oe = swift_head_object(w->d, NULL, w->object, NULL, &h);
            if (!oe && h.found && h.slo)
                oe = swift_manifest_segments(w->d, w->object, &old);
            if (oe)
                sd_strlist_free(&old);
            sd_error_free(oe);
        }
        const char *hdrs[] = { "Content-Type: application/octet-stream", NULL };
        if (!e)
            e = wr_put(w, w->object, "multipart-manifest=put", hdrs, body, strlen(body));
        if (!e && old.len)
            sd_error_free(wr_drop_replaced(w, &old, parts, n)); /* a leak at worst */
        swift_head_free(&h);
        sd_strlist_free(&old);
        free(body);
    }
    if (!e && w->has_record) {
        /* the record is done with; failing to delete it only leaves it
         * stale (older than the object, so never resumed) */
        sd_error_free(wr_delete(w->d, w->record));
        w->has_record = false;
    }
    return e;
}

static sd_error *wr_cancel(sd_writer *base)
{
    swift_writer *w = (swift_writer *)base;
    sd_parts_discard(w->parts);
    sd_error *e = sd_parts_settle(w->parts);
    sd_error_free(e); /* parts that failed are not wanted any more */
    e = wr_drop_segments(w);
    if (!e && w->has_record && !(e = wr_delete(w->d, w->record)))
        w->has_record = false;
    return e;
}

static void wr_destroy(sd_writer *base)
{
    swift_writer *w = (swift_writer *)base;
    if (w->base.state == SD_WRITER_OPEN)
        sd_error_free(wr_close(base)); /* abandoned: keep it resumable */
    sd_parts_free(w->parts);
    free(w->path);
    free(w->object);
    free(w->record);
    free(w);
}

static const sd_writer_ops swift_writer_ops = {
    .write = wr_write,
    .size = wr_size,
    .close = wr_close,
    .commit = wr_commit,
    .cancel = wr_cancel,
    .destroy = wr_destroy,
};

/* ------------------------------------------------------------ resuming */

static sd_error *wr_add_segs(swift_writer *w, const seg_info *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *tag = sd_asprintf("%s\t%s", segs[i].etag, segs[i].name);
        if (!tag)
            return swift_oom();
        sd_error *e = sd_parts_add(w->parts, (int)i + 1, segs[i].bytes, tag);
        if (e)
            return e;
    }
    return NULL;
}

/* Is timestamp a later than b (X-Timestamp texts)? */
static bool stamp_after(const char *a, const char *b)
{
    int32_t an = 0, bn = 0;
    int64_t as = swift_timestamp(a, &an), bs = swift_timestamp(b, &bn);
    return as > bs || (as == bs && an > bn);
}

/* The committed object continues: its segments (SLO), or a server-side copy
 * of it as the first segment (plain). */
static sd_error *wr_from_object(swift_writer *w, const swift_head *h)
{
    if (h->slo) {
        seg_info *segs = NULL;
        size_t n = 0;
        sd_error *e = manifest_get(w->d, w->object, w->path, &segs, &n, NULL, NULL);
        if (!e)
            e = wr_add_segs(w, segs, n);
        segs_free(segs, n);
        return e;
    }
    if (h->size == 0)
        return NULL;
    char *name = seg_name(w, 1);
    char *enc = swift_enc(w->object, 1);
    char *from = name && enc ? sd_asprintf("X-Copy-From: /%s/%s", w->d->container_enc, enc) : NULL;
    free(enc);
    if (!from) {
        free(name);
        return swift_oom();
    }
    const char *hdrs[] = { from, NULL };
    swift_req r = { .method = "PUT", .object = name, .headers = hdrs, .idempotent = true };
    sd_http_response resp;
    sd_error *e = swift_call(w->d, NULL, &r, &resp, w->path);
    const char *et = e ? NULL : sd_http_response_header(&resp, "ETag");
    if (!e && (!et || !*et))
        e = sd_err_driver("PUT %s: copy answer without an ETag", name);
    seg_info s = { name, et ? sd_strdup(et) : NULL, h->size };
    if (!e && !s.etag)
        e = swift_oom();
    if (!e)
        e = wr_add_segs(w, &s, 1);
    free(s.etag);
    free(name);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *wr_resume(swift_writer *w)
{
    seg_info *segs = NULL;
    size_t n = 0;
    char *upload = NULL, *stamp = NULL;
    swift_head h = {0};
    sd_error *e = manifest_get(w->d, w->record, w->path, &segs, &n, &upload, &stamp);
    bool have_record = !e;
    if (e && e->kind == SD_ERR_PATH_NOT_FOUND) {
        sd_error_free(e);
        e = NULL;
    }
    if (!e)
        e = swift_head_object(w->d, NULL, w->object, w->path, &h);
    if (e)
        goto done;
    if (have_record && upload && strlen(upload) < sizeof w->id &&
        (!h.found || !stamp || !h.stamp || stamp_after(stamp, h.stamp))) {
        /* a closed upload newer than the object: it continues */
        snprintf(w->id, sizeof w->id, "%s", upload);
        w->has_record = true;
        e = wr_add_segs(w, segs, n);
        goto done;
    }
    if (have_record && (e = wr_drop_record(w->d, w->record)) != NULL)
        goto done;
    if (h.found)
        e = wr_from_object(w, &h);
done:
    swift_head_free(&h);
    segs_free(segs, n);
    free(upload);
    free(stamp);
    return e;
}

/* A new upload id: microseconds (hex, so ids sort by time) and randomness. */
static void wr_new_id(char id[24])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned char r[4] = {0};
    RAND_bytes(r, sizeof r);
    snprintf(id, 24, "%013llx%02x%02x%02x%02x",
             (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec, r[0],
             r[1], r[2], r[3]);
}

sd_error *swift_writer_open(swift_driver *d, const char *path, bool append, sd_writer **out)
{
    swift_writer *w = calloc(1, sizeof *w);
    if (!w)
        return swift_oom();
    w->base.ops = &swift_writer_ops;
    w->d = d;
    w->sent_plain = -1;
    wr_new_id(w->id);
    w->path = sd_strdup(path);
    w->object = swift_object(d, path);
    w->record = sd_asprintf("%suploads%s", d->root, path);
    sd_error *e = NULL;
    if (!w->path || !w->object || !w->record)
        e = swift_oom();
    if (!e)
        e = sd_parts_new(d->pool, (size_t)d->chunksize, (int)d->concurrency, &seg_ops, w,
                         &w->parts);
    if (!e && append)
        e = wr_resume(w);
    if (e) {
        w->base.state = SD_WRITER_CANCELLED; /* nothing to keep */
        wr_destroy(&w->base);
        return e;
    }
    *out = &w->base;
    return NULL;
}
