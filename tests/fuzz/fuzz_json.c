/* JSON through the Lua runtime's lua-cjson hooks: credentials documents (container, instance
 * metadata, credential_process: provider_creds_from_json) and JSON-protocol error bodies
 * (aws_decode_error). Invariants: credentials read from a document have a key id and a
 * secret; a decoded error has a code and a message. UBSan (with float-cast-overflow) checks
 * numbers become text without undefined casts. */
#include "fuzz_runtime.h"
#include "aws/credentials/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct runtime *rt = fuzz_runtime();
    static const enum provider_json kinds[] = {PROVIDER_JSON_CONTAINER, PROVIDER_JSON_IMDS,
                                               PROVIDER_JSON_PROCESS};
    for (size_t i = 0; i < 3; i++) {
        struct aws_creds c;
        char err[256];
        if (provider_creds_from_json(rt->aws, kinds[i], (const char *)data, size, "fuzz", &c,
                                     err, sizeof err) == 0) {
            FUZZ_ASSERT(c.access_key_id && *c.access_key_id && c.secret_access_key &&
                            *c.secret_access_key, "credentials have a key id and a secret");
            creds_free(&c);
        } else {
            FUZZ_ASSERT(err[0], "a failure says why");
        }
    }
    struct aws_error e;
    memset(&e, 0, sizeof e);
    struct header_list h = {0};
    static const enum aws_protocol json[] = {AWS_JSON_1_0, AWS_JSON_1_1, AWS_REST_JSON};
    for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
        memset(&e, 0, sizeof e);
        aws_decode_error(aws_ctx_settings(rt->aws), NULL, json[i], 400, &h, (const char *)data, size,
                         &e);
        FUZZ_ASSERT(e.code[0] && e.message[0], "an error has a code and a message");
        FUZZ_ASSERT(!strchr(e.code, '#') && !strchr(e.code, ':'), "a clean code: %s", e.code);
    }
    return 0;
}
