/* XML responses (xml.c) and AWS error bodies of the Query and REST-XML protocols
 * (aws_decode_error). Invariants: a parsed tree is walkable to its end; an element with
 * children has empty text (AWS responses have no mixed content); a decoded error always has a
 * code and a message. */
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
    char err[128];
    struct xml_node *root = xml_parse((const char *)data, size, err, sizeof err);
    if (root) {
        FUZZ_ASSERT(root->next == NULL && root->parent == NULL, "one root");
        s_walk(root, 1);
        xml_find_text(root, "Error/Code");
        xml_find_deep(root, "RequestId");
        xml_free(root);
    } else {
        FUZZ_ASSERT(err[0] != '\0', "a failure says why");
    }

    struct aws_settings s;
    memset(&s, 0, sizeof s);
    struct header_list h = {0};
    for (int protocol = AWS_QUERY; protocol <= AWS_REST_XML; protocol += AWS_REST_XML - AWS_QUERY) {
        struct aws_error e;
        memset(&e, 0, sizeof e);
        aws_decode_error(&s, (enum aws_protocol)protocol, 400, &h, (const char *)data, size, &e);
        FUZZ_ASSERT(e.code[0] && e.message[0], "an error has a code and a message");
    }
    return 0;
}
