/*
 * runtime/xml: the XML bodies of cloud responses (S3 and kin) read into a
 * small tree, over expat.
 *
 * sd_xml_parse() reads a whole body and keeps, for every element, its local
 * name (namespace URI and prefix dropped) and its own character data with the
 * entities decoded; attributes, comments and processing instructions are not
 * kept.  Hostile bodies fail with a Driver error
 *   "malformed XML response: <why> at line N"
 * and never expand without bound: the body size, the nesting depth, the
 * element count and the length of any one element's text are capped, and a
 * document type declaration (hence every entity but the five predefined ones
 * and character references) is refused outright, so neither "billion laughs"
 * nor external entities can happen.
 *
 * The tree is read-only once built; every pointer the accessors return
 * belongs to the doc and lives until sd_xml_doc_free().
 */
#ifndef SD_XML_H
#define SD_XML_H

#include <stddef.h>

#include "storagedriver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zero in a field means its default (given in brackets). */
typedef struct sd_xml_limits {
    size_t max_bytes;  /* the body's length [64 MiB; at most INT_MAX] */
    size_t max_depth;  /* element nesting, the root being 1 [64] */
    size_t max_nodes;  /* elements in the document [1,000,000] */
    size_t max_text;   /* one element's text, in bytes [1 MiB] */
} sd_xml_limits;

typedef struct sd_xml_doc sd_xml_doc;
typedef struct sd_xml_node sd_xml_node;

/* Parses data[0..len).  On success *out is a doc the caller frees with
 * sd_xml_doc_free(); on error *out is NULL.  lim may be NULL (all defaults). */
sd_error *sd_xml_parse(const char *data, size_t len, const sd_xml_limits *lim,
                       sd_xml_doc **out);
void sd_xml_doc_free(sd_xml_doc *doc);

const sd_xml_node *sd_xml_root(const sd_xml_doc *doc);

/* The first element at path, a "/"-separated list of local names whose first
 * one names the root ("ListBucketResult/Contents"); NULL if there is none. */
const sd_xml_node *sd_xml_find_node(const sd_xml_doc *doc, const char *path);
/* The text of the element at path; "" if it has none, NULL if it is absent. */
const char *sd_xml_find(const sd_xml_doc *doc, const char *path);

/* The same, from node downwards: path names a child, grandchild, ...
 * ("Owner/ID"); "" names node itself. */
const sd_xml_node *sd_xml_child(const sd_xml_node *node, const char *path);
const char *sd_xml_child_text(const sd_xml_node *node, const char *path);

/* The next sibling with node's name (repeated elements):
 *   for (n = sd_xml_find_node(d, "ListBucketResult/Contents"); n; n = sd_xml_next(n)) */
const sd_xml_node *sd_xml_next(const sd_xml_node *node);
/* The first child and the next sibling, whatever their names. */
const sd_xml_node *sd_xml_first_child(const sd_xml_node *node);
const sd_xml_node *sd_xml_next_sibling(const sd_xml_node *node);

const char *sd_xml_name(const sd_xml_node *node);
/* The element's own character data (not its descendants'), NUL-terminated
 * (XML text cannot hold NUL); *len (if not NULL) gets its length. */
const char *sd_xml_text(const sd_xml_node *node, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
