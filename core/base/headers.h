/* An ordered list of HTTP headers. Names keep the case they were given; lookups ignore case.
 * The list owns copies of every name and value; values are wiped when freed (one may be the
 * session token). Functions returning int give 0 on success and
 * -1 when memory runs out. */
#ifndef CREDREPORT_HEADERS_H
#define CREDREPORT_HEADERS_H

#include <stddef.h>

struct header {
    char *name;  /* owns the header's block */
    char *value; /* inside name's block */
};

struct header_list {
    struct header *items;
    size_t n;
    size_t cap;
};

#define HEADER_LIST_INIT {NULL, 0, 0}

/* Appends, even if the name is already present (repeated headers are legal). */
int headers_add(struct header_list *h, const char *name, const char *value);
/* Replaces every header of that name with one. */
int headers_set(struct header_list *h, const char *name, const char *value);
/* The first value of that name, or NULL. */
const char *headers_get(const struct header_list *h, const char *name);
void headers_remove(struct header_list *h, const char *name);
int headers_copy(struct header_list *dst, const struct header_list *src);
void headers_free(struct header_list *h);

#endif
