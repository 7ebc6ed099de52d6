/* "Did you mean ...?": the closest of some candidates to what a person typed, when it is close
 * enough to be a typo of it (edit distance with transpositions, case-insensitive). */
#ifndef CREDREPORT_SUGGEST_H
#define CREDREPORT_SUGGEST_H

#include <stddef.h>

struct suggestion {
    const char *typo;
    const char *best;   /* NULL while no candidate is close enough */
    size_t distance;
};

void suggest_init(struct suggestion *s, const char *typo);
/* Considers one candidate (kept by pointer: it must outlive the suggestion). */
void suggest_consider(struct suggestion *s, const char *candidate);

#endif
