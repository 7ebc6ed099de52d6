/* XML responses (xml.c) and AWS error bodies of the Query and REST-XML protocols
 * (aws_decode_error). Invariants: a parsed tree is walkable to its end; an element with
 * children has empty text (AWS responses have no mixed content); a reader that has read other
 * documents, well-formed or not, reads each as a fresh parser does; a decoded error always has
 * a code and a message. */
#include "aws/aws.h"
#include "fuzz.h"
#include "base/xml.h"

static size_t s_walk(const struct xml_node *n, int depth)
{
    size_t count = 0;
    for (; n; n = n->next) {
        FUZZ_ASSERT(n->name && n->text, "every node has a name and a text");
        FUZZ_ASSERT(!n->first || n->text[0] == '\0', "an element with children has no text");
        FUZZ_ASSERT(depth <= 64, "deeper than the parser allows");
        count += 1 + s_walk(n->first, depth + 1);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xml_reader *reader; /* lives across inputs, as a thread's does */
    if (!reader)
        reader = xml_reader_new();
    char err[128], reader_err[128] = "";
    struct xml_node *root = xml_parse((const char *)data, size, err, sizeof err);
    struct xml_node *again = xml_read(reader, (const char *)data, size, reader_err, sizeof reader_err);
    FUZZ_ASSERT(!root == !again, "a reader agrees with a fresh parser");
    if (root) {
        FUZZ_ASSERT(root->next == NULL && root->parent == NULL, "one root");
        FUZZ_ASSERT(s_walk(root, 1) == s_walk(again, 1), "a reader builds the same tree");
        xml_find_text(root, "Error/Code");
        xml_find_deep(root, "RequestId");
        xml_free(root);
    } else {
        FUZZ_ASSERT(err[0] != '\0', "a failure says why");
        FUZZ_ASSERT(strcmp(err, reader_err) == 0, "a reader fails as a fresh parser: %s / %s", err,
                    reader_err);
    }
    xml_free(again);

    struct aws_settings s;
    memset(&s, 0, sizeof s);
    struct header_list h = {0};
    for (int protocol = AWS_QUERY; protocol <= AWS_REST_XML; protocol += AWS_REST_XML - AWS_QUERY) {
        struct aws_error e;
        memset(&e, 0, sizeof e);
        aws_decode_error(&s, protocol == AWS_QUERY ? reader : NULL, (enum aws_protocol)protocol, 400, &h, (const char *)data, size, &e);
        FUZZ_ASSERT(e.code[0] && e.message[0], "an error has a code and a message");
    }
    return 0;
}
