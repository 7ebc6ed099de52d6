/* credreport: the command line. Reads config.ini and the options, then hands the script (by
 * default the bundled organization-wide workflow) to the workflow runner. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "workflow.h"

static const char s_usage[] =
    "usage: credreport run [WORKFLOW.lua] [options] [-- SCRIPT-ARGS...]\n"
    "       credreport accounts [WORKFLOW.lua] [options]\n"
    "       credreport --help | --version\n"
    "\n"
    "Collects the IAM credential report of every account in scope of an AWS Organization\n"
    "and delivers it to S3 or a folder, with a run manifest listing every account.\n"
    "\n"
    "Commands:\n"
    "  run        run a workflow (default: the bundled organization-wide one), or any Lua\n"
    "             script with credreport's primitives (see docs/lua-api.md)\n"
    "  accounts   print the accounts in scope (id, name, state, OU path); touches none\n"
    "\n"
    "Options (each overrides config.ini):\n"
    "  -c, --config FILE          settings (default: $CREDREPORT_CONFIG, else ./config.ini\n"
    "                             if present, else built-in defaults)\n"
    "      --ou ID                limit to this OU subtree (repeatable)\n"
    "      --account ID           limit to this account (repeatable)\n"
    "      --exclude-account ID   leave this account out (repeatable)\n"
    "      --concurrency N        accounts in flight at once (default 10000; requests are\n"
    "                             bounded separately by [aws] max_connections)\n"
    "      --threads N            worker threads (default: one per CPU core)\n"
    "      --output DEST          a folder, or s3://bucket/prefix (default ./reports)\n"
    "      --dry-run              list what would be collected and where; touch nothing\n"
    "      --resume               skip accounts already delivered today (per the manifests)\n"
    "      --shard K/N            this host's share of the accounts: K of N (1 <= K <= N), or\n"
    "                             auto/N with K from JOB_COMPLETION_INDEX (Kubernetes)\n"
    "      --lock-file FILE       overlapping runs: the second exits at once (status 4)\n"
    "      --region REGION        AWS region for STS, S3 and SNS\n"
    "      --profile NAME         credentials profile from the shared AWS files\n"
    "      --log-level LEVEL      debug, info, warn or error (default info)\n"
    "      --log-format FORMAT    text or json (default text)\n"
    "      --log-file FILE        also append the log to FILE\n"
    "  -h, --help                 this help\n"
    "      --version              the version\n"
    "\n"
    "Credentials come from the AWS SDKs' chain, in its order: AWS_ACCESS_KEY_ID,\n"
    "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; web identity (AWS_WEB_IDENTITY_TOKEN_FILE,\n"
    "AWS_ROLE_ARN); the shared files (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE:\n"
    "profiles, role_arn, credential_process...); container credentials\n"
    "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI); EC2 instance metadata (IMDSv2).\n"
    "Also AWS_REGION, AWS_CA_BUNDLE, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.\n"
    "CREDREPORT_LUA_DIR overrides where the Lua library is found.\n"
    "\n"
    "Exit status:\n"
    "  0  every account in scope was delivered\n"
    "  1  some accounts failed (the run otherwise completed; see the manifest)\n"
    "  2  usage or configuration error\n"
    "  3  the run could not start (no credentials, cannot list the organization)\n"
    "  4  another run holds the lock (see --lock-file)\n"
    "  130, 143  stopped by SIGINT or SIGTERM: no new account started, accounts in flight\n"
    "     had [run] grace_period seconds to finish, the manifest was written\n"
    "  A plain script exits with the integer its main chunk returns (0 by default), 1 when it\n"
    "  fails.\n";

static bool s_is_dir(const char *p)
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
    /* build/credreport, build/asan/credreport, PREFIX/bin/credreport */
    static const char *rel[] = {"/../lua", "/../../lua", "/../share/credreport/lua"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        int w = snprintf(out, cap, "%s%s", exe, rel[i]);
        if (w > 0 && (size_t)w < cap && s_is_dir(out))
            return out;
    }
    return NULL;
}

static void s_run_info(struct run_info *r)
{
    memset(r, 0, sizeof *r);
    r->started = time(NULL);
    struct tm tm;
    gmtime_r(&r->started, &tm);
    unsigned char rnd[4] = {0};
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memcpy(rnd, &r->started, sizeof rnd);
    char stamp[20];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(r->id, sizeof r->id, "%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2], rnd[3]);
    strftime(r->date, sizeof r->date, "%Y-%m-%d", &tm);
    strftime(r->time, sizeof r->time, "%H%M%S", &tm);
}

/* [run] lock_file, else $XDG_RUNTIME_DIR/credreport.lock, else /tmp/credreport-<uid>.lock */
static const char *s_lock_path(const struct config *cfg, char *buf, size_t cap)
{
    const char *set = config_str(cfg, "run", "lock_file");
    if (*set)
        return set;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n = xdg && *xdg ? snprintf(buf, cap, "%s/credreport.lock", xdg)
                        : snprintf(buf, cap, "/tmp/credreport-%ld.lock", (long)getuid());
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

enum {
    OPT_OU = 256, OPT_ACCOUNT, OPT_EXCLUDE, OPT_CONCURRENCY, OPT_THREADS, OPT_OUTPUT,
    OPT_DRY_RUN, OPT_REGION, OPT_PROFILE, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_VERSION,
    OPT_RESUME, OPT_SHARD, OPT_LOCK_FILE, OPT_LOG_FILE,
};

/* Repeatable list options are gathered, then set once. */
struct lists {
    struct buf ous, include, exclude;
};

static int s_append(struct buf *b, const char *v)
{
    return (b->len ? buf_putc(b, ',') : 0) | buf_puts(b, v);
}

/* Keys, session tokens and external ids live in this process's memory: a core dump would
 * carry them to wherever cores go. So none is written, from the start, before anything is
 * read: the process is not dumpable (which also keeps other processes of the user from
 * reading its memory) and its core size limit is 0. The hard limit is kept in *saved, so that
 * [run] core_dumps = true can undo both for debugging. */
static void s_no_core_dumps(struct rlimit *saved)
{
    if (getrlimit(RLIMIT_CORE, saved) != 0)
        saved->rlim_cur = saved->rlim_max = 0;
    struct rlimit none = {0, saved->rlim_max};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void s_allow_core_dumps(const struct rlimit *saved)
{
    setrlimit(RLIMIT_CORE, saved);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

int main(int argc, char **argv)
{
    struct rlimit core_limit;
    s_no_core_dumps(&core_limit);
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("credreport %s\n", CREDREPORT_VERSION);
        return 0;
    }
    bool accounts_cmd = strcmp(cmd, "accounts") == 0;
    if (!accounts_cmd && strcmp(cmd, "run") != 0) {
        fprintf(stderr, "credreport: unknown command '%s' (try credreport --help)\n", cmd);
        return 2;
    }

    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"ou", required_argument, NULL, OPT_OU},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"exclude-account", required_argument, NULL, OPT_EXCLUDE},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"region", required_argument, NULL, OPT_REGION},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"version", no_argument, NULL, OPT_VERSION},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"lock-file", required_argument, NULL, OPT_LOCK_FILE},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {NULL, 0, NULL, 0},
    };
    /* Each option and the setting it overrides. */
    static const struct { int opt; const char *section, *key, *name; } map[] = {
        {OPT_CONCURRENCY, "run", "concurrency", "--concurrency"},
        {OPT_THREADS, "run", "threads", "--threads"},
        {OPT_OUTPUT, "output", "destination", "--output"},
        {OPT_REGION, "aws", "region", "--region"},
        {OPT_PROFILE, "aws", "profile", "--profile"},
        {OPT_LOG_LEVEL, "log", "level", "--log-level"},
        {OPT_LOG_FORMAT, "log", "format", "--log-format"},
        {OPT_SHARD, "run", "shard", "--shard"},
        {OPT_LOCK_FILE, "run", "lock_file", "--lock-file"},
        {OPT_LOG_FILE, "log", "file", "--log-file"},
    };
    struct { const char *section, *key, *value, *name; } sets[64];
    size_t n_sets = 0;
    struct lists lists = {BUF_INIT, BUF_INIT, BUF_INIT};
    struct buf errors = BUF_INIT;
    struct config cfg = {0};
    const char *config_path = NULL;
    bool dry_run = false, resume = false;
    int status = 2, c;

    optind = 2;
    /* GNU getopt moves options found after the script name in front of it; script
     * arguments that start with '-' go after "--". */
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'h': fputs(s_usage, stdout); status = 0; goto done;
        case OPT_VERSION: printf("credreport %s\n", CREDREPORT_VERSION); status = 0; goto done;
        case OPT_OU: s_append(&lists.ous, optarg); break;
        case OPT_ACCOUNT: s_append(&lists.include, optarg); break;
        case OPT_EXCLUDE: s_append(&lists.exclude, optarg); break;
        case OPT_DRY_RUN: dry_run = true; break;
        case OPT_RESUME: resume = true; break;
        case '?': fprintf(stderr, "(try credreport --help)\n"); goto done;
        default:
            for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
                if (map[i].opt == c && n_sets < sizeof sets / sizeof *sets) {
                    sets[n_sets].section = map[i].section;
                    sets[n_sets].key = map[i].key;
                    sets[n_sets].value = optarg;
                    sets[n_sets].name = map[i].name;
                    n_sets++;
                }
            }
        }
    }
    const char *script = optind < argc ? argv[optind++] : NULL;

    /* Settings: defaults, then the file, then the command line. */
    if (config_init(&cfg) != 0) {
        fprintf(stderr, "credreport: out of memory\n");
        goto done;
    }
    bool explicit_config = config_path != NULL;
    if (!config_path && getenv("CREDREPORT_CONFIG") && *getenv("CREDREPORT_CONFIG")) {
        config_path = getenv("CREDREPORT_CONFIG");
        explicit_config = true;
    }
    int bad = config_load(&cfg, config_path ? config_path : "config.ini", explicit_config, &errors);
    const struct { struct buf *b; const char *key, *name; } list_opts[] = {
        {&lists.ous, "ous", "--ou"}, {&lists.include, "include", "--account"},
        {&lists.exclude, "exclude", "--exclude-account"}};
    for (size_t i = 0; i < 3; i++)
        if (list_opts[i].b->len)
            bad |= config_set(&cfg, "accounts", list_opts[i].key, list_opts[i].b->data,
                              list_opts[i].name, &errors);
    for (size_t i = 0; i < n_sets; i++)
        bad |= config_set(&cfg, sets[i].section, sets[i].key, sets[i].value, sets[i].name, &errors);
    if (dry_run)
        bad |= config_set(&cfg, "run", "dry_run", "true", "--dry-run", &errors);
    if (resume)
        bad |= config_set(&cfg, "run", "resume", "true", "--resume", &errors);
    if (!bad)
        bad = config_validate(&cfg, &errors);
    if (bad) {
        fprintf(stderr, "credreport: configuration errors:\n%s%s", errors.data ? errors.data : "",
                errors.len && errors.data[errors.len - 1] != '\n' ? "\n" : "");
        goto done;
    }
    if (config_bool(&cfg, "run", "core_dumps"))
        s_allow_core_dumps(&core_limit);
    log_configure(config_str(&cfg, "log", "level"), strcmp(config_str(&cfg, "log", "format"), "json") == 0);
    const char *log_file = config_str(&cfg, "log", "file");
    if (*log_file && log_open_file(log_file) != 0) {
        fprintf(stderr, "credreport: cannot open the log file %s: %s\n", log_file, strerror(errno));
        goto done;
    }
    const char *shard = config_str(&cfg, "run", "shard");
    if (strncmp(shard, "auto/", 5) == 0) {
        const char *idx = getenv("JOB_COMPLETION_INDEX");
        char *end = NULL;
        long k = idx && *idx ? strtol(idx, &end, 10) : -1;
        if (k < 0 || (end && *end) || k >= atol(shard + 5)) {
            fprintf(stderr, "credreport: --shard %s needs JOB_COMPLETION_INDEX between 0 and %ld "
                            "(it is %s)\n", shard, atol(shard + 5) - 1, idx && *idx ? idx : "not set");
            goto done;
        }
    }

    char lua_dir_buf[PATH_MAX], script_buf[PATH_MAX + 32];
    const char *lua_dir = s_lua_dir(lua_dir_buf, sizeof lua_dir_buf);
    if (!lua_dir) {
        fprintf(stderr, "credreport: cannot find the Lua library (lua/ beside the binary, or "
                        "share/credreport/lua); set CREDREPORT_LUA_DIR\n");
        status = 3;
        goto done;
    }
    if (!script) {
        snprintf(script_buf, sizeof script_buf, "%s/workflows/organization.lua", lua_dir);
        script = script_buf;
    }

    struct run_info run;
    s_run_info(&run);
    struct aws_shared shared;
    if (aws_shared_init(&shared) != 0) {
        fprintf(stderr, "credreport: out of memory\n");
        status = 3;
        goto done;
    }
    struct workflow_options o;
    memset(&o, 0, sizeof o);
    o.rt.lua_dir = lua_dir;
    o.rt.region = config_str(&cfg, "aws", "region");
    http_settings_default(&o.rt.http);
    o.rt.http.user_agent = "credreport/" CREDREPORT_VERSION;
    o.rt.http.connect_timeout_ms = (long)(config_num(&cfg, "aws", "connect_timeout") * 1000);
    o.rt.http.total_timeout_ms = (long)(config_num(&cfg, "aws", "request_timeout") * 1000);
    o.rt.http.ca_bundle = config_str(&cfg, "aws", "ca_bundle");
    retry_config_default(&o.rt.retry);
    o.rt.retry.max_attempts = (int)config_int(&cfg, "aws", "max_attempts");
    o.rt.endpoints.global = config_str(&cfg, "endpoints", "url");
    static const char *services[] = {"iam", "sts", "organizations", "s3", "sns"};
    for (size_t i = 0; i < 5; i++) {
        o.rt.endpoints.service_urls[i][0] = services[i];
        o.rt.endpoints.service_urls[i][1] = config_str(&cfg, "endpoints", services[i]);
    }
    o.rt.config = &cfg;
    o.rt.run = &run;
    o.rt.shared = &shared;
    o.script = script;
    o.argc = argc - optind;
    o.argv = argv + optind;
    o.mode = accounts_cmd ? WF_ACCOUNTS : config_bool(&cfg, "run", "dry_run") ? WF_DRY_RUN : WF_RUN;
    long threads = config_int(&cfg, "run", "threads");
    if (threads <= 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = threads > 0 ? (int)threads : 1;
    o.concurrency = (int)config_int(&cfg, "run", "concurrency");
    if (o.threads > o.concurrency)
        o.threads = o.concurrency;
    /* [aws] max_connections is per endpoint for the whole run: each thread gets its share. */
    long conns = config_int(&cfg, "aws", "max_connections") / o.threads;
    o.rt.http.max_connections = conns > 0 ? (int)conns : 1;
    char lock_buf[PATH_MAX];
    o.lock_path = s_lock_path(&cfg, lock_buf, sizeof lock_buf);
    o.grace_period = config_num(&cfg, "run", "grace_period");
    /* A closed stdout (a pipe to head) must not kill a run half-way. */
    signal(SIGPIPE, SIG_IGN);

    if (loop_global_init() != 0) {
        fprintf(stderr, "credreport: cannot initialise libcurl\n");
        aws_shared_cleanup(&shared);
        status = 3;
        goto done;
    }
    status = workflow_main(&o);
    loop_global_cleanup();
    aws_shared_cleanup(&shared);
done:
    buf_free(&lists.ous);
    buf_free(&lists.include);
    buf_free(&lists.exclude);
    buf_free(&errors);
    config_free(&cfg);
    return status;
}
