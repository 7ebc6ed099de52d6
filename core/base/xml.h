/* A small read-only XML tree built with expat: enough to read AWS responses by element name.
 * Namespaces are dropped from names; attributes are ignored (AWS responses carry data in
 * elements only). The document owns every node and string. */
#ifndef CREDREPORT_XML_H
#define CREDREPORT_XML_H

#include <stddef.h>

struct xml_node {
    const char *name;        /* in the node's own block */
    const char *text;        /* the character data of an element without children; "" for one
                              * with children (AWS responses have no mixed content) */
    struct xml_node *parent;
    struct xml_node *first;  /* first child */
    struct xml_node *next;   /* next sibling */
    struct xml_node *last;   /* last child, for appending */
};

/* Parses a document. Returns the root element (free with xml_free), or NULL with a message
 * in err when the body is not well-formed XML or memory runs out. */
struct xml_node *xml_parse(const char *data, size_t len, char *err, size_t errlen);
void xml_free(struct xml_node *root);

/* An expat parser kept for document after document, reset between them: one per thread that
 * parses every response, so that expat's tables and buffers are not set up anew each time. */
struct xml_reader;
struct xml_reader *xml_reader_new(void); /* NULL when memory runs out */
void xml_reader_free(struct xml_reader *r);
/* xml_parse with the reader's parser (r NULL: a parser for this document alone). */
struct xml_node *xml_read(struct xml_reader *r, const char *data, size_t len, char *err, size_t errlen);

/* Follows a '/'-separated path of child names from node ("Error/Code"); NULL if absent. */
const struct xml_node *xml_find(const struct xml_node *node, const char *path);
/* The text at that path, or NULL. */
const char *xml_find_text(const struct xml_node *node, const char *path);
/* Depth-first search for the first element of that name, node included. */
const struct xml_node *xml_find_deep(const struct xml_node *node, const char *name);

#endif
