/* The inmemory driver's directory tree (private to drivers/inmemory*.c).
 *
 * Directories keep their children in an array sorted by name, so a lookup is
 * one binary search per path component and listing is already in order.
 * File bytes live in a reference-counted, immutable im_data: a reader holds a
 * reference to the bytes it opened, so replacing or deleting the file never
 * pulls them from under it, and nobody has to hold the tree lock while
 * reading.  The tree itself has no lock: the driver guards it. */
#ifndef SD_INMEMORY_TREE_H
#define SD_INMEMORY_TREE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct im_data {
    atomic_size_t refs;
    char *bytes; /* malloc'd; NULL when len is 0 */
    size_t len;
} im_data;

/* Takes bytes (even on failure the caller keeps them: NULL means OOM and
 * bytes untouched).  The result holds one reference. */
im_data *im_data_new(char *bytes, size_t len);
im_data *im_data_ref(im_data *d);
/* Drops one reference; the last one frees the bytes.  NULL is ignored. */
void im_data_unref(im_data *d);

typedef struct im_node im_node;
struct im_node {
    char *name;            /* the path component; "" for the root */
    bool is_dir;
    struct timespec mtime;
    im_data *data;         /* files: one reference, never NULL */
    im_node **kids;        /* directories: sorted by name (byte order) */
    size_t nkids, cap;
    im_node *next;         /* scratch link used by im_free_tree */
};

/* New nodes; NULL on OOM.  im_file_new takes the caller's reference to data
 * only when it succeeds. */
im_node *im_dir_new(const char *name, size_t len, struct timespec now);
im_node *im_file_new(const char *name, size_t len, im_data *data, struct timespec now);
/* Frees n and everything below it (iteratively: depth is unbounded). */
void im_free_tree(im_node *n);

typedef enum im_where {
    IM_FOUND,   /* node is at path; dir/index locate it (dir is NULL for "/") */
    IM_MISSING, /* rest is the first missing component and those after it;
                   dir is the deepest existing directory on the way */
    IM_BLOCKED  /* a file stands where a directory is needed: node is that file,
                   path[0, prefix_len) its path */
} im_where;

typedef struct im_pos {
    im_where where;
    im_node *dir;
    size_t index;
    im_node *node;
    const char *rest;
    size_t prefix_len;
} im_pos;

/* Resolves an absolute path ("/" or "/a/b").  Never re-enters a directory:
 * each component descends one level from the previous one. */
im_where im_lookup(im_node *root, const char *path, im_pos *pos);

/* Inserting below an IM_MISSING position happens in two steps so a failure
 * changes nothing: im_prepare allocates every missing directory and room in
 * pos->dir (0, or -1 on OOM with nothing changed), im_link cannot fail.  In
 * between, the tree may change as long as pos->dir stays alive and no node
 * named like the first missing component appears in it. */
typedef struct im_chain {
    im_node *head; /* outermost new directory, NULL when only the leaf is missing */
    im_node *tail; /* innermost new directory */
} im_chain;

int im_prepare(im_pos *pos, im_chain *chain);
/* Frees a prepared chain that will not be linked. */
void im_chain_discard(im_chain *chain);
/* Hangs leaf (named after the last component of pos->rest) below the chain
 * and the chain into pos->dir; new directories and pos->dir get mtime now. */
void im_link(im_pos *pos, im_chain *chain, im_node *leaf, struct timespec now);

/* Removes the child at (dir, index) from dir and returns it. */
im_node *im_detach(im_node *dir, size_t index);
/* Index of the child called name[0, len) in dir; *found tells whether it is
 * there, otherwise the index is where it would go. */
size_t im_search(const im_node *dir, const char *name, size_t len, bool *found);

#endif
