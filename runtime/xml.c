/* runtime/xml: see xml.h.  One expat parser per body, handlers build the tree. */
#include "xml.h"

#include <expat.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define XML_DEFAULT_BYTES ((size_t)64 << 20)
#define XML_DEFAULT_DEPTH 64
#define XML_DEFAULT_NODES 1000000
#define XML_DEFAULT_TEXT ((size_t)1 << 20)
#define XML_CHUNK 65536
/* expat hands us "URI<sep>local" for namespaced names. */
#define XML_NS_SEP '\x01'

struct sd_xml_node {
    char *name;               /* owned */
    char *text;               /* owned; NULL while empty */
    size_t text_len, text_cap;
    sd_xml_node *parent, *first, *last, *next;
    sd_xml_node *all_next;    /* the doc's list of every node, for freeing */
};

struct sd_xml_doc {
    sd_xml_node *root;
    sd_xml_node *all;         /* owns every node through all_next */
};

typedef struct xml_state {
    XML_Parser parser;
    sd_xml_doc *doc;
    sd_xml_limits lim;
    sd_xml_node *cur;         /* the open element, NULL outside the root */
    size_t depth, nodes;
    const char *why;          /* set when a handler stopped the parser */
} xml_state;

static void xml_stop(xml_state *st, const char *why)
{
    if (!st->why)
        st->why = why;
    XML_StopParser(st->parser, XML_FALSE);
}

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xml_state *st = ud;
    (void)atts;
    if (st->why)
        return;
    if (++st->depth > st->lim.max_depth) {
        xml_stop(st, "elements nested too deep");
        return;
    }
    if (++st->nodes > st->lim.max_nodes) {
        xml_stop(st, "too many elements");
        return;
    }
    const char *local = strrchr(name, XML_NS_SEP);
    local = local ? local + 1 : name;
    sd_xml_node *n = calloc(1, sizeof *n);
    if (!n || !(n->name = strdup(local))) {
        free(n);
        xml_stop(st, "out of memory");
        return;
    }
    n->all_next = st->doc->all;
    st->doc->all = n;
    n->parent = st->cur;
    if (st->cur) {
        if (st->cur->last)
            st->cur->last->next = n;
        else
            st->cur->first = n;
        st->cur->last = n;
    } else {
        st->doc->root = n;
    }
    st->cur = n;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    xml_state *st = ud;
    (void)name;
    if (st->why || !st->cur)
        return;
    st->depth--;
    st->cur = st->cur->parent;
}

static void XMLCALL xml_chars(void *ud, const XML_Char *s, int len)
{
    xml_state *st = ud;
    sd_xml_node *n = st->cur;
    if (st->why || !n || len <= 0)
        return;
    size_t add = (size_t)len;
    if (add > st->lim.max_text - n->text_len) {
        xml_stop(st, "element text too long");
        return;
    }
    if (n->text_len + add + 1 > n->text_cap) {
        size_t cap = n->text_cap ? n->text_cap : 32;
        while (cap < n->text_len + add + 1)
            cap *= 2;
        char *t = realloc(n->text, cap);
        if (!t) {
            xml_stop(st, "out of memory");
            return;
        }
        n->text = t;
        n->text_cap = cap;
    }
    memcpy(n->text + n->text_len, s, add);
    n->text_len += add;
    n->text[n->text_len] = '\0';
}

/* No response we read has a DTD; refusing it shuts out every custom entity,
 * internal (entity expansion bombs) or external (file and network reads). */
static void XMLCALL xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    xml_stop(ud, "document type declarations are not allowed");
}

static void XMLCALL xml_entity_decl(void *ud, const XML_Char *name, int is_param,
                                    const XML_Char *value, int value_len,
                                    const XML_Char *base, const XML_Char *sysid,
                                    const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    xml_stop(ud, "entity declarations are not allowed");
}

static int XMLCALL xml_external(XML_Parser p, const XML_Char *context, const XML_Char *base,
                                const XML_Char *sysid, const XML_Char *pubid)
{
    (void)p, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR; /* never load anything */
}

void sd_xml_doc_free(sd_xml_doc *doc)
{
    if (!doc)
        return;
    sd_xml_node *n = doc->all;
    while (n) {
        sd_xml_node *next = n->all_next;
        free(n->name);
        free(n->text);
        free(n);
        n = next;
    }
    free(doc);
}

sd_error *sd_xml_parse(const char *data, size_t len, const sd_xml_limits *lim,
                       sd_xml_doc **out)
{
    *out = NULL;
    xml_state st = {0};
    if (lim)
        st.lim = *lim;
    if (!st.lim.max_bytes || st.lim.max_bytes > INT_MAX)
        st.lim.max_bytes = st.lim.max_bytes ? (size_t)INT_MAX : XML_DEFAULT_BYTES;
    if (!st.lim.max_depth)
        st.lim.max_depth = XML_DEFAULT_DEPTH;
    if (!st.lim.max_nodes)
        st.lim.max_nodes = XML_DEFAULT_NODES;
    if (!st.lim.max_text)
        st.lim.max_text = XML_DEFAULT_TEXT;
    if (len > st.lim.max_bytes)
        return sd_err_driver("malformed XML response: body of %zu bytes is over the "
                             "limit of %zu", len, st.lim.max_bytes);
    if (!data && len)
        return sd_err_driver("malformed XML response: no body");

    st.doc = calloc(1, sizeof *st.doc);
    st.parser = XML_ParserCreateNS(NULL, XML_NS_SEP);
    if (!st.doc || !st.parser) {
        free(st.doc);
        if (st.parser)
            XML_ParserFree(st.parser);
        return sd_err_driver("malformed XML response: out of memory");
    }
    XML_Parser p = st.parser;
    XML_SetUserData(p, &st);
    XML_SetElementHandler(p, xml_start, xml_end);
    XML_SetCharacterDataHandler(p, xml_chars);
    XML_SetStartDoctypeDeclHandler(p, xml_doctype);
    XML_SetEntityDeclHandler(p, xml_entity_decl);
    XML_SetExternalEntityRefHandler(p, xml_external);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

    size_t off = 0;
    enum XML_Status rc = XML_STATUS_OK;
    do {
        size_t n = len - off < XML_CHUNK ? len - off : XML_CHUNK;
        int final = off + n == len;
        rc = XML_Parse(p, data ? data + off : "", (int)n, final);
        off += n;
    } while (rc == XML_STATUS_OK && off < len);

    sd_error *err = NULL;
    if (rc != XML_STATUS_OK || st.why) {
        const char *why = st.why ? st.why : XML_ErrorString(XML_GetErrorCode(p));
        err = sd_err_driver("malformed XML response: %s at line %lu",
                            why ? why : "unknown error",
                            (unsigned long)XML_GetCurrentLineNumber(p));
    } else if (!st.doc->root) {
        err = sd_err_driver("malformed XML response: no element found at line %lu",
                            (unsigned long)XML_GetCurrentLineNumber(p));
    }
    XML_ParserFree(p);
    if (err) {
        sd_xml_doc_free(st.doc);
        return err;
    }
    *out = st.doc;
    return NULL;
}

const sd_xml_node *sd_xml_root(const sd_xml_doc *doc)
{
    return doc ? doc->root : NULL;
}

/* The first child of n named by the segment s[0..len). */
static const sd_xml_node *xml_named_child(const sd_xml_node *n, const char *s, size_t len)
{
    for (const sd_xml_node *c = n->first; c; c = c->next)
        if (strncmp(c->name, s, len) == 0 && c->name[len] == '\0')
            return c;
    return NULL;
}

const sd_xml_node *sd_xml_child(const sd_xml_node *node, const char *path)
{
    if (!node || !path)
        return NULL;
    while (*path && node) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        node = xml_named_child(node, path, len);
        path += len;
        if (*path == '/')
            path++;
    }
    return node;
}

const sd_xml_node *sd_xml_find_node(const sd_xml_doc *doc, const char *path)
{
    if (!doc || !doc->root || !path)
        return NULL;
    const char *slash = strchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : strlen(path);
    if (strncmp(doc->root->name, path, len) != 0 || doc->root->name[len] != '\0')
        return NULL;
    return sd_xml_child(doc->root, slash ? slash + 1 : "");
}

const char *sd_xml_find(const sd_xml_doc *doc, const char *path)
{
    const sd_xml_node *n = sd_xml_find_node(doc, path);
    return n ? sd_xml_text(n, NULL) : NULL;
}

const char *sd_xml_child_text(const sd_xml_node *node, const char *path)
{
    const sd_xml_node *n = sd_xml_child(node, path);
    return n ? sd_xml_text(n, NULL) : NULL;
}

const sd_xml_node *sd_xml_next(const sd_xml_node *node)
{
    if (!node)
        return NULL;
    for (const sd_xml_node *c = node->next; c; c = c->next)
        if (strcmp(c->name, node->name) == 0)
            return c;
    return NULL;
}

const sd_xml_node *sd_xml_first_child(const sd_xml_node *node)
{
    return node ? node->first : NULL;
}

const sd_xml_node *sd_xml_next_sibling(const sd_xml_node *node)
{
    return node ? node->next : NULL;
}

const char *sd_xml_name(const sd_xml_node *node)
{
    return node ? node->name : NULL;
}

const char *sd_xml_text(const sd_xml_node *node, size_t *len)
{
    if (len)
        *len = node ? node->text_len : 0;
    if (!node)
        return NULL;
    return node->text ? node->text : "";
}
