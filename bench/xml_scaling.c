/* How xml_parse's cost grows with the document: for each shape, documents of 1, 2, 4, 8 and
 * 16 MB, parsed three times; prints the best CPU time and the time per byte, which stays flat
 * when parsing is linear. Built and run by bench/xml-scaling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/xml.h"

static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends one unit of the shape; the document is open + units + close. */
static void s_unit(struct buf *b, int shape, size_t i)
{
    switch (shape) {
    case 0: /* siblings under one parent, indented as AWS does */
        buf_printf(b, "\n    <member><Id>%012zu</Id><Name>account %zu</Name></member>", i, i);
        break;
    case 1: /* one leaf with a long text, in many pieces (entities split expat's runs) */
        buf_puts(b, "credential,report&amp;row&lt;");
        break;
    case 2: /* siblings with children, text between them */
        buf_puts(b, "\n  <Contents>\n    <Key>reports/x.csv</Key>\n    <Size>3</Size>\n  </Contents>");
        break;
    }
}

int main(void)
{
    static const char *const names[] = {"siblings", "long-text", "listing"};
    static const char *const open_[] = {"<r><Accounts>", "<r><Report>", "<ListBucketResult>"};
    static const char *const close_[] = {"</Accounts></r>", "</Report></r>", "</ListBucketResult>"};
    printf("%-10s %8s %10s %10s\n", "shape", "MB", "cpu_s", "ns/byte");
    for (int shape = 0; shape < 3; shape++) {
        for (size_t mb = 1; mb <= 16; mb *= 2) {
            struct buf doc = BUF_INIT;
            buf_puts(&doc, open_[shape]);
            for (size_t i = 0; doc.len < mb << 20; i++)
                s_unit(&doc, shape, i);
            buf_puts(&doc, close_[shape]);
            double best = 1e9;
            for (int run = 0; run < 3; run++) {
                char err[128];
                double t0 = s_cpu();
                struct xml_node *root = xml_parse(doc.data, doc.len, err, sizeof err);
                double t = s_cpu() - t0;
                if (!root) {
                    fprintf(stderr, "%s: %s\n", names[shape], err);
                    return 1;
                }
                xml_free(root);
                if (t < best)
                    best = t;
            }
            printf("%-10s %8zu %10.3f %10.1f\n", names[shape], mb, best, best * 1e9 / (double)doc.len);
            buf_free(&doc);
        }
    }
    return 0;
}
