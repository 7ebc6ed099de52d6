/* The XML reader: text and children, namespaces, depth, malformed input, and documents fed to
 * expat in pieces: elements and multi-byte characters across piece boundaries, and a document
 * past 2 GiB (expat takes an int length) mapped from a few pages of memory. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/buf.h"
#include "unit.h"
#include "base/xml.h"

static void test_shapes(void)
{
    char err[128];
    struct xml_node *r = xml_parse("<a xmlns=\"urn:x\">x<b>y&amp;z</b>w<c/></a>", 41, err, sizeof err);
    CHECK(r != NULL, "parse: %s", err);
    if (r) {
        CHECK_STR(r->name, "a", "namespace dropped");
        CHECK_STR(r->text, "", "text of an element with children dropped");
        CHECK_STR(xml_find_text(r, "b"), "y&z", "leaf text, entity decoded");
        CHECK_STR(xml_find_text(r, "c"), "", "empty leaf");
        CHECK(xml_find(r, "d") == NULL, "absent");
        xml_free(r);
    }
    CHECK(xml_parse("<a><b></a>", 10, err, sizeof err) == NULL && strstr(err, "malformed"),
          "malformed: %s", err);
    CHECK(xml_parse("", 0, err, sizeof err) == NULL, "empty: %s", err);

    struct buf deep = BUF_INIT;
    for (int i = 0; i < 64; i++)
        buf_puts(&deep, "<d>");
    for (int i = 0; i < 64; i++)
        buf_puts(&deep, "</d>");
    r = xml_parse(deep.data, deep.len, err, sizeof err);
    CHECK(r != NULL, "64 levels: %s", err);
    xml_free(r);
    buf_reset(&deep);
    for (int i = 0; i < 65; i++)
        buf_puts(&deep, "<d>");
    for (int i = 0; i < 65; i++)
        buf_puts(&deep, "</d>");
    CHECK(xml_parse(deep.data, deep.len, err, sizeof err) == NULL && strstr(err, "deeper"),
          "65 levels: %s", err);
    buf_free(&deep);
}

/* A few MB of siblings whose tags and two-byte characters fall across the pieces expat is fed
 * in: every element and every text arrives whole. */
static void test_piece_boundaries(void)
{
    struct buf doc = BUF_INIT;
    buf_puts(&doc, "<r>");
    size_t n = 0;
    while (doc.len < (size_t)3 << 20) {
        buf_printf(&doc, "<m>h\xc3\xa9llo %zu</m>", n++);
        if (n % 3 == 0)
            buf_puts(&doc, "\n  ");
    }
    buf_puts(&doc, "</r>");
    char err[128];
    struct xml_node *r = xml_parse(doc.data, doc.len, err, sizeof err);
    CHECK(r != NULL, "parse: %s", err);
    size_t seen = 0, good = 0;
    for (const struct xml_node *c = r ? r->first : NULL; c; c = c->next, seen++) {
        char want[64];
        snprintf(want, sizeof want, "h\xc3\xa9llo %zu", seen);
        good += strcmp(c->text, want) == 0;
    }
    CHECK(seen == n && good == n, "%zu elements, %zu right, of %zu", seen, good, n);
    xml_free(r);
    buf_free(&doc);
}

/* A file of one MiB in memory: pre, then 'x', then post. */
static int s_chunk(size_t size, const char *pre, const char *post)
{
    int fd = memfd_create("xml", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        return -1;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return -1;
    }
    size_t a = strlen(pre), b = strlen(post);
    memcpy(p, pre, a);
    memset(p + a, 'x', size - a - b);
    memcpy(p + size - b, post, b);
    munmap(p, size);
    return fd;
}

/* 2.2 GB: "<a>", comments, "</a>", mapped from three MiB-sized files again and again, so it
 * takes address space, not memory. Before, such a document reached expat in 1 GiB pieces that
 * its buffer, grown by doubling an int, could not hold. */
static void test_past_2_gib(void)
{
    const size_t chunk = (size_t)1 << 20, n = 2200;
    int fds[3] = {s_chunk(chunk, "<a><!--", "-->"), s_chunk(chunk, "<!--", "-->"),
                  s_chunk(chunk, "<!--", "--></a>")};
    char *base = mmap(NULL, n * chunk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    bool mapped = fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0 && base != MAP_FAILED;
    for (size_t i = 0; mapped && i < n; i++) {
        int fd = fds[i == 0 ? 0 : i == n - 1 ? 2 : 1];
        mapped = mmap(base + i * chunk, chunk, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) !=
                 MAP_FAILED;
    }
    CHECK(mapped, "mapping a 2.2 GB document");
    if (mapped) {
        char err[128] = "";
        struct xml_node *r = xml_parse(base, n * chunk, err, sizeof err);
        CHECK(r != NULL && strcmp(r->name, "a") == 0 && r->first == NULL,
              "2.2 GB parsed whole: %s", err);
        xml_free(r);
    }
    if (base != MAP_FAILED)
        munmap(base, n * chunk);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* One reader for many documents, as each thread parses its responses: a document that
 * fails leaves nothing behind for the next one. */
static void test_reader_reused(void)
{
    struct xml_reader *rd = xml_reader_new();
    CHECK(rd != NULL, "a reader");
    const char *docs[] = {"<a xmlns=\"urn:x\"><b>1</b></a>", "<c><d>two</d><d/></c>", "<e><f>", "<g>&bad;</g>",
                          "<h xmlns=\"urn:y\"><i>3</i></h>"};
    const char *want[] = {"a/b=1", "c/d=two", NULL, NULL, "h/i=3"};
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
            char err[128] = "";
            struct xml_node *r = xml_read(rd, docs[i], strlen(docs[i]), err, sizeof err);
            if (!want[i]) {
                CHECK(r == NULL && strstr(err, "malformed"), "document %zu fails: %s", i, err);
                continue;
            }
            char got[64];
            snprintf(got, sizeof got, "%s/%s=%s", r ? r->name : "?", r && r->first ? r->first->name : "?",
                     r && r->first ? r->first->text : "?");
            CHECK(strcmp(got, want[i]) == 0, "document %zu, round %d: %s (%s)", i, round, got, err);
            xml_free(r);
        }
    xml_reader_free(rd);
}

int main(void)
{
    test_shapes();
    test_reader_reused();
    test_piece_boundaries();
    test_past_2_gib();
    return unit_report("test_xml");
}
