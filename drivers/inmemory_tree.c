/* The inmemory driver's directory tree: nodes, lookup, insertion, removal. */
#include "inmemory_tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ data */

im_data *im_data_new(char *bytes, size_t len)
{
    im_data *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    atomic_init(&d->refs, 1);
    d->bytes = bytes;
    d->len = len;
    return d;
}

im_data *im_data_ref(im_data *d)
{
    atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void im_data_unref(im_data *d)
{
    if (!d)
        return;
    /* acq_rel: the last owner must see every other owner's use finished. */
    if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) {
        free(d->bytes);
        free(d);
    }
}

/* ----------------------------------------------------------------- nodes */

static im_node *node_new(const char *name, size_t len, bool is_dir, struct timespec now)
{
    im_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = malloc(len + 1);
    if (!n->name) {
        free(n);
        return NULL;
    }
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    n->is_dir = is_dir;
    n->mtime = now;
    return n;
}

im_node *im_dir_new(const char *name, size_t len, struct timespec now)
{
    return node_new(name, len, true, now);
}

im_node *im_file_new(const char *name, size_t len, im_data *data, struct timespec now)
{
    im_node *n = node_new(name, len, false, now);
    if (n)
        n->data = data;
    return n;
}

void im_free_tree(im_node *n)
{
    /* A stack threaded through the nodes themselves: no recursion, no
     * allocation, whatever the depth. */
    if (!n)
        return;
    n->next = NULL;
    im_node *stack = n;
    while (stack) {
        im_node *cur = stack;
        stack = cur->next;
        for (size_t i = 0; i < cur->nkids; i++) {
            cur->kids[i]->next = stack;
            stack = cur->kids[i];
        }
        free(cur->kids);
        free(cur->name);
        im_data_unref(cur->data);
        free(cur);
    }
}

/* ---------------------------------------------------------------- lookup */

/* strcmp(name, comp) where comp is comp[0, len), not NUL-terminated. */
static int name_cmp(const char *name, const char *comp, size_t len)
{
    int c = strncmp(name, comp, len);
    if (c != 0)
        return c;
    return name[len] != '\0' ? 1 : 0;
}

size_t im_search(const im_node *dir, const char *name, size_t len, bool *found)
{
    size_t lo = 0, hi = dir->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(dir->kids[mid]->name, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static size_t comp_len(const char *p)
{
    const char *slash = strchr(p, '/');
    return slash ? (size_t)(slash - p) : strlen(p);
}

im_where im_lookup(im_node *root, const char *path, im_pos *pos)
{
    memset(pos, 0, sizeof *pos);
    const char *p = path;
    while (*p == '/')
        p++;
    if (*p == '\0') {
        pos->node = root;
        return pos->where = IM_FOUND;
    }
    im_node *cur = root;
    for (;;) {
        size_t n = comp_len(p);
        bool found;
        size_t idx = im_search(cur, p, n, &found);
        pos->dir = cur;
        pos->index = idx;
        if (!found) {
            pos->rest = p;
            return pos->where = IM_MISSING;
        }
        im_node *kid = cur->kids[idx];
        const char *next = p + n;
        while (*next == '/')
            next++;
        if (*next == '\0') {
            pos->node = kid;
            return pos->where = IM_FOUND;
        }
        if (!kid->is_dir) {
            pos->node = kid;
            pos->prefix_len = (size_t)(p + n - path);
            return pos->where = IM_BLOCKED;
        }
        cur = kid;
        p = next;
    }
}

/* ------------------------------------------------------------- insertion */

static int reserve_kid(im_node *dir)
{
    if (dir->nkids < dir->cap)
        return 0;
    size_t cap = dir->cap ? dir->cap * 2 : 4;
    if (cap > SIZE_MAX / sizeof *dir->kids)
        return -1;
    im_node **kids = realloc(dir->kids, cap * sizeof *kids);
    if (!kids)
        return -1;
    dir->kids = kids;
    dir->cap = cap;
    return 0;
}

void im_chain_discard(im_chain *chain)
{
    /* Unlinked chains are singly nested: head's subtree is the whole chain. */
    im_free_tree(chain->head);
    chain->head = chain->tail = NULL;
}

int im_prepare(im_pos *pos, im_chain *chain)
{
    chain->head = chain->tail = NULL;
    const char *p = pos->rest;
    struct timespec zero = {0, 0};
    for (;;) {
        size_t n = comp_len(p);
        const char *next = p + n;
        while (*next == '/')
            next++;
        if (*next == '\0')
            break; /* p is the leaf's name: the caller brings that node */
        im_node *dir = im_dir_new(p, n, zero);
        if (!dir || reserve_kid(dir) != 0) {
            im_free_tree(dir);
            im_chain_discard(chain);
            return -1;
        }
        if (chain->tail) {
            chain->tail->kids[0] = dir;
            chain->tail->nkids = 1;
        } else {
            chain->head = dir;
        }
        chain->tail = dir;
        p = next;
    }
    if (reserve_kid(pos->dir) != 0) {
        im_chain_discard(chain);
        return -1;
    }
    return 0;
}

static void insert_kid(im_node *dir, im_node *kid, struct timespec now)
{
    bool found;
    size_t idx = im_search(dir, kid->name, strlen(kid->name), &found);
    /* im_prepare reserved the room; the caller guarantees !found. */
    memmove(dir->kids + idx + 1, dir->kids + idx, (dir->nkids - idx) * sizeof *dir->kids);
    dir->kids[idx] = kid;
    dir->nkids++;
    dir->mtime = now;
}

void im_link(im_pos *pos, im_chain *chain, im_node *leaf, struct timespec now)
{
    if (chain->tail) {
        chain->tail->kids[0] = leaf;
        chain->tail->nkids = 1;
        for (im_node *d = chain->head;; d = d->kids[0]) {
            d->mtime = now;
            if (d == chain->tail)
                break;
        }
        insert_kid(pos->dir, chain->head, now);
    } else {
        insert_kid(pos->dir, leaf, now);
    }
    chain->head = chain->tail = NULL;
}

im_node *im_detach(im_node *dir, size_t index)
{
    im_node *kid = dir->kids[index];
    memmove(dir->kids + index, dir->kids + index + 1,
            (dir->nkids - index - 1) * sizeof *dir->kids);
    dir->nkids--;
    return kid;
}
