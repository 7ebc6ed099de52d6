/* Dates from the network: HTTP Date headers (retry_parse_http_date: IMF-fixdate, RFC 850,
 * asctime) and ISO 8601 credential expirations (provider_parse_time). Invariant: a parsed
 * date round-trips: written back in the canonical form, it parses to the same second. */
#include <time.h>

#include "fuzz.h"
#include "aws/credentials/provider.h"
#include "aws/retry.h"

static const char *const s_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const s_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char text[64];
    struct tm tm;

    time_t t = retry_parse_http_date(s);
    FUZZ_ASSERT(t >= -1, "-1 or a time after 1970: %lld", (long long)t);
    if (t != -1 && gmtime_r(&t, &tm) && tm.tm_year + 1900 <= 9999) {
        snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", s_days[tm.tm_wday],
                 tm.tm_mday, s_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        time_t back = retry_parse_http_date(text);
        FUZZ_ASSERT(back == t, "'%s' -> %lld -> '%s' -> %lld", s, (long long)t, text,
                    (long long)back);
    }

    t = provider_parse_time(s);
    if (t != -1 && gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 1 && tm.tm_year + 1900 <= 9999) {
        snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        time_t back = provider_parse_time(text);
        FUZZ_ASSERT(back == t, "'%s' -> %lld -> '%s' -> %lld", s, (long long)t, text,
                    (long long)back);
    }
    free(s);
    return 0;
}
