/* The azure writer: a block blob built from blocks of chunksize bytes, staged
 * (Put Block) uploadconcurrency at a time by sd_parts, and committed (Put
 * Block List) by close and by commit.
 *
 * Why block blobs, committed on close: put_content writes block blobs, so
 * the writer must too for the two to mix (the reference's append blobs
 * cannot be appended to put_content data, nor put_content to them without a
 * delete).  A closed upload is a committed blob, and writer(path, true)
 * resumes it by re-committing its committed block list followed by the new
 * blocks: no state is kept anywhere but in the blob, and nothing depends on
 * Azure's week-long life of uncommitted blocks.  The price: content written
 * and closed is visible before commit (as the reference's is from the
 * start); content not yet closed never is.
 *
 * Block ids: base64 of 24 characters, a random per-writer session (12 hex)
 * and the block number (12 digits): equal lengths within a blob as Azure
 * requires, never reused by a later writer.  A blob made otherwise (Put
 * Blob, other tools' ids of another length) is re-based on append: its bytes
 * are staged again as this writer's first blocks (streamed, in bounded
 * memory).
 *
 * Memory: at most uploadconcurrency chunk buffers (sd_parts).  A small
 * object written by a fresh writer and committed is one Put Blob. */
#include "azure.h"
#include "../runtime/util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AZ_ID_RAW 24

typedef struct az_writer {
    sd_writer base;
    az_driver *d;
    char *blob, *path;
    char session[13];
    sd_parts *parts;
    char **committed;    /* ids of the blob's blocks this upload continues */
    size_t ncommitted;
    int64_t size;        /* every byte accepted, the earlier ones included */
    bool resumed;        /* opened with append on an existing blob */
    bool dirty;          /* something to commit */
    bool listed;         /* a list (or Put Blob) was committed by this writer */
} az_writer;

static void azw_free_committed(az_writer *w)
{
    for (size_t i = 0; i < w->ncommitted; i++)
        free(w->committed[i]);
    free(w->committed);
    w->committed = NULL;
    w->ncommitted = 0;
}

/* ------------------------------------------------------ staging blocks */

static char *azw_block_id(const char *session, int num)
{
    char raw[AZ_ID_RAW + 1];
    snprintf(raw, sizeof raw, "%.12s%012d", session, num);
    char *id = malloc(4 * AZ_ID_RAW / 3 + 1);
    if (id)
        EVP_EncodeBlock((unsigned char *)id, (const unsigned char *)raw, AZ_ID_RAW);
    return id;
}

static sd_error *azw_send(void *ud, sd_http_client *c, int num, const void *data, size_t len,
                          char **tag)
{
    az_writer *w = ud;
    if ((size_t)num + w->ncommitted > AZ_MAX_BLOCKS)
        return sd_err_driver("write %s: more than %d blocks (raise chunksize)", w->path,
                             AZ_MAX_BLOCKS);
    char *id = azw_block_id(w->session, num);
    char *eid = id ? az_enc(id, false) : NULL;
    char *q = eid ? sd_asprintf("comp=block&blockid=%s", eid) : NULL;
    free(eid);
    if (!q) {
        free(id);
        return az_oom();
    }
    unsigned char md[16];
    unsigned int mdlen = 0;
    char md5[64] = "Content-MD5: ";
    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)md5 + strlen(md5), md, 16);
    const char *hdrs[] = { md5, NULL };
    az_req r = { .method = "PUT", .blob = w->blob, .query = q, .headers = hdrs, .body = data,
                 .body_len = len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_call(w->d, c, &r, &resp, NULL);
    sd_http_response_free(&resp);
    free(q);
    if (e)
        free(id);
    else
        *tag = id;
    return e;
}

static const sd_parts_ops azw_ops = { .send = azw_send };

/* ------------------------------------------------------ committing */

static int azw_xml_id(sd_buf *b, const char *tag, const char *id)
{
    return sd_buf_append(b, "<", 1) || sd_buf_append(b, tag, strlen(tag)) ||
           sd_buf_append(b, ">", 1) || sd_buf_append(b, id, strlen(id)) ||
           sd_buf_append(b, "</", 2) || sd_buf_append(b, tag, strlen(tag)) ||
           sd_buf_append(b, ">", 1);
}

/* Put Block List: the committed blocks, then the parts. */
static sd_error *azw_put_list(az_writer *w, const sd_part *parts, size_t n)
{
    sd_buf b = {0};
    static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    int bad = sd_buf_append(&b, head, sizeof head - 1);
    for (size_t i = 0; i < w->ncommitted && !bad; i++)
        bad = azw_xml_id(&b, "Committed", w->committed[i]);
    for (size_t i = 0; i < n && !bad; i++)
        bad = azw_xml_id(&b, "Latest", parts[i].tag);
    bad = bad || sd_buf_append(&b, "</BlockList>", 12);
    if (bad) {
        sd_buf_free(&b);
        return az_oom();
    }
    az_req r = { .method = "PUT", .blob = w->blob, .query = "comp=blocklist", .body = b.data,
                 .body_len = b.len, .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_call(w->d, NULL, &r, &resp, NULL);
    sd_http_response_free(&resp);
    sd_buf_free(&b);
    return e;
}

static sd_error *azw_flush(az_writer *w, bool allow_put_blob)
{
    const char *data = NULL;
    size_t buffered = sd_parts_buffered(w->parts, &data);
    /* A fresh small upload: one Put Blob. */
    if (allow_put_blob && !w->resumed && sd_parts_next(w->parts) == 1) {
        sd_error *e = az_put_blob(w->d, NULL, w->blob, buffered ? data : "", buffered);
        if (!e) {
            sd_parts_discard(w->parts);
            w->dirty = false;
            w->listed = true;
        }
        return e;
    }
    sd_error *e = NULL;
    if (buffered > 0)
        e = sd_parts_submit(w->parts);
    if (!e)
        e = sd_parts_settle(w->parts);
    const sd_part *parts = NULL;
    size_t n = 0;
    if (!e)
        e = sd_parts_list(w->parts, &parts, &n);
    if (e || (!w->dirty && (w->listed || w->resumed)))
        return e;
    /* The base's ids, then every block of this writer ("Latest" finds a
     * block whether an earlier list committed it or not). */
    if ((e = azw_put_list(w, parts, n)) == NULL) {
        w->dirty = false;
        w->listed = true;
    }
    return e;
}

/* ------------------------------------------------------ the writer ops */

static sd_error *azw_write(sd_writer *base, const void *data, size_t len)
{
    az_writer *w = (az_writer *)base;
    sd_error *e = sd_parts_write(w->parts, data, len);
    if (!e) {
        w->size += (int64_t)len;
        w->dirty = w->dirty || len > 0;
    }
    return e;
}

static int64_t azw_size(sd_writer *base)
{
    return ((az_writer *)base)->size;
}

static sd_error *azw_close(sd_writer *base)
{
    return azw_flush((az_writer *)base, false);
}

static sd_error *azw_commit(sd_writer *base)
{
    return azw_flush((az_writer *)base, true);
}

static sd_error *azw_cancel(sd_writer *base)
{
    az_writer *w = (az_writer *)base;
    sd_parts_discard(w->parts);
    sd_error_free(sd_parts_settle(w->parts));
    /* What an earlier close committed is this upload's: it goes.  A fresh
     * writer committed nothing (its staged blocks are dropped by Azure). */
    return w->resumed ? az_delete_blob(w->d, NULL, w->blob) : NULL;
}

static void azw_destroy(sd_writer *base)
{
    az_writer *w = (az_writer *)base;
    if (w->base.state == SD_WRITER_OPEN && w->parts)
        sd_error_free(azw_flush(w, false)); /* abandoned: keep it resumable */
    sd_parts_free(w->parts);
    azw_free_committed(w);
    free(w->blob);
    free(w->path);
    free(w);
}

static const sd_writer_ops az_writer_ops = {
    .write = azw_write,
    .size = azw_size,
    .close = azw_close,
    .commit = azw_commit,
    .cancel = azw_cancel,
    .destroy = azw_destroy,
};

/* ------------------------------------------------------ resuming */

/* Stages the blob's current bytes again as this writer's first blocks. */
static sd_error *azw_restage(az_writer *w)
{
    sd_reader *r = NULL;
    sd_error *e = az_reader_open(w->d, w->path, 0, &r);
    if (e)
        return e;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf)
        e = az_oom();
    while (!e) {
        size_t n = 0;
        if ((e = r->ops->read(r, buf, cap, &n)) != NULL || n == 0)
            break;
        e = sd_parts_write(w->parts, buf, n);
    }
    free(buf);
    r->ops->close(r);
    w->dirty = true;
    return e;
}

/* Reads the committed block list; adopts it when it makes up the whole
 * blob with ids of our length, else re-stages the bytes. */
static sd_error *azw_resume(az_writer *w)
{
    az_req r = { .method = "GET", .blob = w->blob,
                 .query = "comp=blocklist&blocklisttype=committed", .idempotent = true };
    sd_http_response resp;
    sd_error *e = az_call(w->d, NULL, &r, &resp, w->path);
    sd_xml_doc *doc = NULL;
    if (e && e->code && strcmp(e->code, "InvalidBlobType") == 0) {
        sd_error_free(e);
        sd_http_response_free(&resp);
        return sd_err_driver("cannot append to existing non-block blob: %s", w->blob);
    }
    if (!e)
        e = sd_xml_parse(resp.body.data ? resp.body.data : "", resp.body.len, NULL, &doc);
    if (e) {
        sd_http_response_free(&resp);
        return e;
    }
    const char *cl = sd_http_response_header(&resp, "x-ms-blob-content-length");
    int64_t blob_size = cl ? strtoll(cl, NULL, 10) : -1;
    int64_t sum = 0;
    size_t n = 0;
    bool ours = true;
    const sd_xml_node *first = sd_xml_find_node(doc, "BlockList/CommittedBlocks/Block");
    for (const sd_xml_node *b = first; b; b = sd_xml_next(b)) {
        const char *name = sd_xml_child_text(b, "Name"), *sz = sd_xml_child_text(b, "Size");
        if (!name || !sz || strlen(name) != 4 * AZ_ID_RAW / 3)
            ours = false;
        sum += sz ? strtoll(sz, NULL, 10) : 0;
        n++;
    }
    w->size = blob_size;
    if (blob_size < 0 || sum != blob_size || !ours) {
        sd_xml_doc_free(doc);
        sd_http_response_free(&resp);
        if (blob_size < 0)
            return sd_err_driver("GET %s block list: answer without x-ms-blob-content-length",
                                 w->blob);
        return blob_size > 0 ? azw_restage(w) : NULL;
    }
    w->committed = calloc(n + 1, sizeof *w->committed);
    if (!w->committed)
        e = az_oom();
    for (const sd_xml_node *b = first; b && !e; b = sd_xml_next(b))
        if (!(w->committed[w->ncommitted++] = sd_strdup(sd_xml_child_text(b, "Name"))))
            e = az_oom();
    sd_xml_doc_free(doc);
    sd_http_response_free(&resp);
    return e;
}

static sd_error *azw_new(az_driver *d, const char *path, az_writer **out)
{
    az_writer *w = calloc(1, sizeof *w);
    if (!w)
        return az_oom();
    w->base.ops = &az_writer_ops;
    w->d = d;
    unsigned char rnd[6];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        free(w);
        return sd_err_driver("no random bytes for block ids");
    }
    for (int i = 0; i < 6; i++)
        snprintf(w->session + 2 * i, 3, "%02x", rnd[i]);
    w->blob = az_name(d, path);
    w->path = sd_strdup(path);
    sd_error *e = !w->blob || !w->path
                      ? az_oom()
                      : sd_parts_new(d->pool, (size_t)d->chunksize, (int)d->upload_concurrency,
                                     &azw_ops, w, &w->parts);
    if (e) {
        w->base.state = SD_WRITER_CANCELLED;
        azw_destroy(&w->base);
        return e;
    }
    *out = w;
    return NULL;
}

sd_error *az_writer_open(az_driver *d, const char *path, bool append, sd_writer **out)
{
    az_writer *w = NULL;
    sd_error *e = azw_new(d, path, &w);
    if (!e && append) {
        w->resumed = true;
        e = azw_resume(w);
    }
    if (e) {
        if (w) {
            w->base.state = SD_WRITER_CANCELLED; /* nothing to keep */
            azw_destroy(&w->base);
        }
        return e;
    }
    *out = &w->base;
    return NULL;
}

sd_error *az_put_staged(az_driver *d, const char *path, const void *data, size_t len)
{
    az_writer *w = NULL;
    sd_error *e = azw_new(d, path, &w);
    if (e)
        return e;
    e = azw_write(&w->base, data, len);
    if (!e)
        e = azw_flush(w, false);
    w->base.state = SD_WRITER_CANCELLED; /* done either way: a failed put leaves no upload */
    azw_destroy(&w->base);
    return e;
}
