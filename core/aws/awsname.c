#include "aws/awsname.h"

#include <string.h>

static bool s_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool awsname_region(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (!s_lower_alnum(s[n]) && s[n] != '-')
            return false;
    return n > 0 && n < AWSNAME_REGION_MAX;
}

bool awsname_session_name(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++) {
        char c = s[n];
        if (!s_lower_alnum(c) && !(c >= 'A' && c <= 'Z') && !strchr("_+=,.@-", c))
            return false;
    }
    return n >= 2 && n <= 64;
}

bool awsname_account_id(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n == 12;
}

const char *awsname_arn_resource(const char *arn, const char *service)
{
    if (!arn || strncmp(arn, "arn:aws", 7) != 0)
        return NULL;
    const char *p = arn + 7;
    while ((*p >= 'a' && *p <= 'z') || *p == '-')
        p++;
    size_t sl = strlen(service);
    if (p[0] != ':' || strncmp(p + 1, service, sl) != 0 || p[1 + sl] != ':')
        return NULL;
    p += sl + 2;
    size_t r = 0;
    while (s_lower_alnum(p[r]) || p[r] == '-')
        r++;
    bool global = strcmp(service, "iam") == 0;
    if (p[r] != ':' || (r == 0) != global)
        return NULL;
    p += r + 1;
    for (int i = 0; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return NULL;
    return p[12] == ':' ? p + 13 : NULL;
}

bool awsname_role_arn(const char *s)
{
    const char *r = awsname_arn_resource(s, "iam");
    return r && strncmp(r, "role/", 5) == 0 && r[5] && r[strlen(r) - 1] != '/';
}
