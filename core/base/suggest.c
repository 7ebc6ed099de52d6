#include "base/suggest.h"

#include <ctype.h>
#include <string.h>

/* Edit distance with adjacent transpositions, case-insensitive; large for long strings. */
static size_t s_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t na = strlen(a), nb = strlen(b);
    if (na >= MAX || nb >= MAX)
        return MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[na][nb];
}

void suggest_init(struct suggestion *s, const char *typo)
{
    s->typo = typo;
    s->best = NULL;
    s->distance = (size_t)-1;
}

void suggest_consider(struct suggestion *s, const char *candidate)
{
    size_t n = strlen(candidate);
    size_t limit = n <= 4 ? 1 : n <= 8 ? 2 : 3;
    size_t d = s_distance(s->typo, candidate);
    if (d <= limit && d < s->distance) {
        s->best = candidate;
        s->distance = d;
    }
}
