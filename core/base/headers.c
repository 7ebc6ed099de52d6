#include "base/headers.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int headers_add(struct header_list *h, const char *name, const char *value)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct header *p = realloc(h->items, cap * sizeof *p);
        if (!p)
            return -1;
        h->items = p;
        h->cap = cap;
    }
    /* One block per header, the value after the name: a response brings a dozen. */
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = malloc(nlen + vlen + 2);
    if (!n)
        return -1;
    memcpy(n, name, nlen + 1);
    memcpy(n + nlen + 1, value, vlen + 1);
    h->items[h->n].name = n;
    h->items[h->n].value = n + nlen + 1;
    h->n++;
    return 0;
}

/* Header values are wiped before they are freed: one of them is the session token. */
static void s_free(struct header *item)
{
    OPENSSL_cleanse(item->value, strlen(item->value));
    free(item->name);
}

void headers_remove(struct header_list *h, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->items[i].name, name) == 0) {
            s_free(&h->items[i]);
        } else {
            h->items[j++] = h->items[i];
        }
    }
    h->n = j;
}

int headers_set(struct header_list *h, const char *name, const char *value)
{
    headers_remove(h, name);
    return headers_add(h, name, value);
}

const char *headers_get(const struct header_list *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, name) == 0)
            return h->items[i].value;
    return NULL;
}

int headers_copy(struct header_list *dst, const struct header_list *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (headers_add(dst, src->items[i].name, src->items[i].value) != 0)
            return -1;
    return 0;
}

void headers_free(struct header_list *h)
{
    for (size_t i = 0; i < h->n; i++)
        s_free(&h->items[i]);
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}
