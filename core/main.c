/* credreport: command line. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua_runtime.h"

static const char s_usage[] =
    "usage: credreport run FILE.lua [ARG...]\n"
    "       credreport --help | --version\n"
    "\n"
    "Commands:\n"
    "  run FILE.lua [ARG...]  run a Lua script with credreport's primitives loaded\n"
    "                         (require \"credreport.core\"; see docs/lua-api.md)\n"
    "\n"
    "Environment:\n"
    "  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   credentials\n"
    "  AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE     shared files\n"
    "  AWS_REGION, AWS_DEFAULT_REGION                                region\n"
    "  AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>                  endpoints\n"
    "  AWS_CA_BUNDLE                                                 CA certificates\n"
    "  CREDREPORT_LUA_DIR                     where the Lua library is (default: found\n"
    "                                         next to the binary)\n"
    "\n"
    "Exit status: the script's (its main chunk may return an integer); 0 by default,\n"
    "1 when the script fails, 2 for usage errors.\n";

static int s_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The Lua library: $CREDREPORT_LUA_DIR, else beside the binary (build tree or install). */
static const char *s_lua_dir(char *out, size_t cap)
{
    const char *env = getenv("CREDREPORT_LUA_DIR");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    static const char *rel[] = {"/../lua", "/../share/credreport/lua"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        int n2 = snprintf(out, cap, "%s%s", exe, rel[i]);
        if (n2 > 0 && (size_t)n2 < cap && s_is_dir(out))
            return out;
    }
    return NULL;
}

static int s_run(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "credreport run: which script? (credreport run FILE.lua)\n");
        return 2;
    }
    char dirbuf[PATH_MAX];
    struct runtime_options o;
    memset(&o, 0, sizeof o);
    o.lua_dir = s_lua_dir(dirbuf, sizeof dirbuf);
    http_settings_default(&o.http);
    o.http.user_agent = "credreport/" CREDREPORT_VERSION;
    retry_config_default(&o.retry);
    char err[512];
    struct runtime *rt = runtime_new(&o, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "credreport: %s\n", err);
        return 3;
    }
    int status = runtime_run_file(rt, argv[0], argc - 1, argv + 1);
    runtime_free(rt);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("credreport %s\n", CREDREPORT_VERSION);
        return 0;
    }
    if (loop_global_init() != 0) {
        fprintf(stderr, "credreport: cannot initialise libcurl\n");
        return 3;
    }
    int status;
    if (strcmp(argv[1], "run") == 0) {
        status = s_run(argc - 2, argv + 2);
    } else {
        fprintf(stderr, "credreport: unknown command '%s'\n\n%s", argv[1], s_usage);
        status = 2;
    }
    loop_global_cleanup();
    return status;
}
