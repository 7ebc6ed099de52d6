/* Allocations that fail on purpose, for the tests of what memory running out does. A binary
 * linked with failing_alloc.c and -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=strdup,--wrap=strndup (Makefile: FAILING_ALLOC) sends the allocations of the objects
 * it links (the core, and lua-cjson, linked in) through it; the shared libraries (curl,
 * OpenSSL, Lua, expat) keep theirs. */
#ifndef CREDREPORT_FAILING_ALLOC_H
#define CREDREPORT_FAILING_ALLOC_H

#include <stdbool.h>

/* From now on, the nth allocation fails (counting from 1), once; 0: none fails. A binary
 * started with OOM_FAIL_AT=n in its environment is armed with n. */
void failing_alloc_arm(long n);
/* Whether the allocation armed for has failed. */
bool failing_alloc_failed(void);

#endif
