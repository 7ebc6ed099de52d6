#include "base/xml.h"

#include <expat.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Deeply nested input would only cost memory; AWS responses are a few levels deep. */
#define XML_MAX_DEPTH 64
/* expat joins namespace and local name with this; we keep the local name. */
#define NS_SEP '\x01'
/* expat takes an int length, and XML_Parse copies what it is given into a buffer of its own
 * (growing it by doubling an int: past 1 GiB it fails as "out of memory"). So the document is
 * fed in pieces small enough that its buffer stays small whatever the document's size. */
#define XML_PIECE ((size_t)1 << 20)

struct parse_state {
    XML_Parser parser;
    struct xml_node *root;
    struct xml_node *current;
    struct buf text;             /* text of current, until it closes */
    int depth;
    int failed;                  /* 1: out of memory, 2: too deep */
};

static void s_stop(struct parse_state *st, int why)
{
    st->failed = why;
    XML_StopParser(st->parser, XML_FALSE);
}

/* The text of every element without any: one shared string, never freed. */
static const char s_no_text[] = "";

/* Element content in AWS responses is either text or children: the text of an element with
 * children is only the whitespace that indents them, and is dropped, so gathering text stays
 * linear in the input however many children an element has. */
static int s_take_text(struct parse_state *st, struct xml_node *node)
{
    if (node->first || !st->text.data) {
        buf_reset(&st->text);
        node->text = s_no_text;
        return 0;
    }
    node->text = buf_steal(&st->text);
    return node->text ? 0 : -1;
}

static void XMLCALL s_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct parse_state *st = ud;
    (void)attrs;
    if (st->failed)
        return;
    if (++st->depth > XML_MAX_DEPTH) {
        s_stop(st, 2);
        return;
    }
    const char *local = strrchr(name, NS_SEP);
    local = local ? local + 1 : name;
    size_t len = strlen(local);
    struct xml_node *n = calloc(1, sizeof *n + len + 1); /* the name follows the node */
    if (!n) {
        s_stop(st, 1);
        return;
    }
    n->name = memcpy((char *)(n + 1), local, len + 1);
    n->parent = st->current;
    if (!st->current) {
        st->root = n;
    } else {
        if (st->current->last)
            st->current->last->next = n;
        else
            st->current->first = n;
        st->current->last = n;
        buf_reset(&st->text);
    }
    st->current = n;
}

static void XMLCALL s_end(void *ud, const XML_Char *name)
{
    struct parse_state *st = ud;
    (void)name;
    if (st->failed || !st->current)
        return;
    if (s_take_text(st, st->current) != 0) {
        s_stop(st, 1);
        return;
    }
    st->current = st->current->parent;
    st->depth--;
}

static void XMLCALL s_chars(void *ud, const XML_Char *s, int len)
{
    struct parse_state *st = ud;
    if (st->failed || !st->current)
        return;
    if (buf_append(&st->text, s, (size_t)len) != 0)
        s_stop(st, 1);
}

void xml_free(struct xml_node *root)
{
    /* Iterative, so a deep or wide tree cannot exhaust the stack: descend to a leaf, free
     * it, continue with its sibling or, when none, its (now childless) parent. */
    struct xml_node *n = root;
    while (n) {
        if (n->first) {
            struct xml_node *c = n->first;
            n->first = NULL;
            n = c;
            continue;
        }
        struct xml_node *next = (n == root) ? NULL : (n->next ? n->next : n->parent);
        if (n->text && n->text != s_no_text) {
            /* the text of an AssumeRole answer's SecretAccessKey and SessionToken */
            char *text = (char *)n->text;
            OPENSSL_cleanse(text, strlen(text));
            free(text);
        }
        free(n);
        n = next;
    }
}

struct xml_reader {
    XML_Parser parser; /* NULL until the first document */
    /* expat salts its hash tables against crafted names, drawing a salt from the kernel for
     * each document unless given one: one drawn here serves all of the reader's documents. */
    unsigned long salt; /* 0: none drawn, expat draws its own */
};

struct xml_reader *xml_reader_new(void)
{
    struct xml_reader *r = calloc(1, sizeof *r);
    if (r && RAND_bytes((unsigned char *)&r->salt, sizeof r->salt) != 1)
        r->salt = 0;
    return r;
}

void xml_reader_free(struct xml_reader *r)
{
    if (!r)
        return;
    if (r->parser)
        XML_ParserFree(r->parser);
    free(r);
}

struct xml_node *xml_parse(const char *data, size_t len, char *err, size_t errlen)
{
    return xml_read(NULL, data, len, err, errlen);
}

struct xml_node *xml_read(struct xml_reader *r, const char *data, size_t len, char *err, size_t errlen)
{
    struct parse_state st = {0};
    if (r && r->parser && !XML_ParserReset(r->parser, NULL)) {
        XML_ParserFree(r->parser);
        r->parser = NULL;
    }
    st.parser = r && r->parser ? r->parser : XML_ParserCreateNS(NULL, NS_SEP);
    if (!st.parser) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (r) {
        r->parser = st.parser;
        if (r->salt)
            XML_SetHashSalt(st.parser, r->salt);
    }
    XML_SetUserData(st.parser, &st);
    XML_SetElementHandler(st.parser, s_start, s_end);
    XML_SetCharacterDataHandler(st.parser, s_chars);
    enum XML_Status rc = XML_STATUS_OK;
    const char *p = data ? data : "";
    do {
        size_t piece = len > XML_PIECE ? XML_PIECE : len;
        rc = XML_Parse(st.parser, p, (int)piece, piece == len);
        p += piece;
        len -= piece;
    } while (rc == XML_STATUS_OK && len > 0);
    if (st.failed == 1) {
        snprintf(err, errlen, "out of memory");
    } else if (st.failed == 2) {
        snprintf(err, errlen, "XML nested deeper than %d levels", XML_MAX_DEPTH);
    } else if (rc != XML_STATUS_OK) {
        snprintf(err, errlen, "malformed XML at line %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(st.parser),
                 XML_ErrorString(XML_GetErrorCode(st.parser)));
    } else if (!st.root) {
        snprintf(err, errlen, "empty XML document");
    }
    if (!r)
        XML_ParserFree(st.parser);
    buf_free_secret(&st.text);
    if (st.failed || rc != XML_STATUS_OK || !st.root) {
        xml_free(st.root);
        return NULL;
    }
    return st.root;
}

const struct xml_node *xml_find(const struct xml_node *node, const char *path)
{
    while (node && *path) {
        const char *slash = strchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : strlen(path);
        const struct xml_node *c = node->first;
        while (c && !(strlen(c->name) == n && strncmp(c->name, path, n) == 0))
            c = c->next;
        node = c;
        path = slash ? slash + 1 : path + n;
    }
    return node;
}

const char *xml_find_text(const struct xml_node *node, const char *path)
{
    const struct xml_node *n = xml_find(node, path);
    return n ? n->text : NULL;
}

const struct xml_node *xml_find_deep(const struct xml_node *node, const char *name)
{
    if (!node)
        return NULL;
    if (strcmp(node->name, name) == 0)
        return node;
    for (const struct xml_node *c = node->first; c; c = c->next) {
        const struct xml_node *f = xml_find_deep(c, name);
        if (f)
            return f;
    }
    return NULL;
}
