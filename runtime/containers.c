/* sd_buf, sd_strlist and sd_fileinfo: the small containers of the API. */
#include "storagedriver.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int sd_buf_reserve(sd_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + extra;
    /* Geometric growth keeps a long stream of appends linear overall. */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sd_buf_append(sd_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (sd_buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void sd_buf_free(sd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int sd_strlist_push_owned(sd_strlist *l, char *s)
{
    if (!s)
        return -1;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            free(s);
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = s;
    return 0;
}

int sd_strlist_push(sd_strlist *l, const char *s)
{
    return sd_strlist_push_owned(l, sd_strdup(s));
}

static int strlist_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sd_strlist_sort(sd_strlist *l)
{
    if (l->len > 1)
        qsort(l->items, l->len, sizeof *l->items, strlist_cmp);
}

void sd_strlist_free(sd_strlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = l->cap = 0;
}

void sd_fileinfo_clear(sd_fileinfo *fi)
{
    free(fi->path);
    memset(fi, 0, sizeof *fi);
}
