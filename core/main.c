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

#include "config/config.h"
#include "base/errmsg.h"
#include "base/cpus.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "lua/lua_bundle.h"
#include "base/runlock.h"
#include "base/suggest.h"
#include "lua/workflow.h"

/* Connections per endpoint a workflow's main thread keeps, and so the Organizations calls its
 * listing has in flight at once (the others wait in the queue): Organizations allows few
 * requests per second, and more at once would mostly collect throttling errors. */
#define MAIN_THREAD_CONNECTIONS 16
/* How many times its share of the default [aws] max_connections a worker may grow to. */
#define GROW_CONNECTIONS 4

static const char s_usage[] =
    "usage: credreport [options] run [WORKFLOW.lua] [options] [-- SCRIPT-ARGS...]\n"
    "       credreport [options] accounts [WORKFLOW.lua] [--format table|json|csv]\n"
    "       credreport --help | --version\n"
    "\n"
    "Collects the IAM credential report of every account in scope of an AWS Organization\n"
    "and delivers it to S3 or a folder, with a run manifest listing every account.\n"
    "\n"
    "Commands:\n"
    "  run        run a workflow (default: the bundled organization-wide one), or any Lua\n"
    "             script with credreport's primitives (see docs/lua-api.md)\n"
    "  accounts   print the accounts in scope (id, name, state, OU path); touches none\n"
    "  lua-path   where each module of the Lua library comes from: the Lua directory\n"
    "             (CREDREPORT_LUA_DIR, lua/ beside the binary, or share/credreport/lua), else\n"
    "             the copy built into the binary\n"
    "\n"
    "Options go before or after the command; each overrides config.ini. A value is given as\n"
    "--option VALUE or --option=VALUE (only the second form takes a value starting with '-').\n"
    "  -c, --config FILE          settings (default: $CREDREPORT_CONFIG, else ./config.ini\n"
    "                             if present, else built-in defaults)\n"
    "      --ou ID                limit to this OU subtree (repeatable)\n"
    "      --account ID           limit to this account (repeatable)\n"
    "      --exclude-account ID   leave this account out (repeatable)\n"
    "      --concurrency N        accounts in flight at once (default 10000; requests are\n"
    "                             bounded separately by [aws] max_connections)\n"
    "      --threads N            worker threads (default: the usable CPUs less one, at least 1)\n"
    "      --output DEST          a folder, or s3://bucket/prefix (default ./reports)\n"
    "      --dry-run              check access, list what would be collected and where;\n"
    "                             touch no account\n"
    "      --resume               skip accounts already delivered today (per the manifests)\n"
    "      --shard K/N            this host's share of the accounts: K of N (1 <= K <= N), or\n"
    "                             auto/N with K from JOB_COMPLETION_INDEX (Kubernetes)\n"
    "      --lock-file FILE       overlapping runs: the second exits at once (status 4)\n"
    "      --region REGION        AWS region of the calls: STS, SNS and S3 (unless\n"
    "                             [output] region), and the partition of IAM and Organizations\n"
    "      --profile NAME         credentials profile from the shared AWS files\n"
    "      --format FORMAT        accounts: table (default), json or csv\n"
    "      --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  -v, --verbose              the same as --log-level debug\n"
    "  -q, --quiet                the same as --log-level warn: warnings and errors only\n"
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
    "Behind a proxy: HTTPS_PROXY and NO_PROXY (instance metadata never goes through it).\n"
    "CREDREPORT_LUA_DIR overrides where the Lua library is found.\n"
    "\n"
    "Exit status:\n"
    "  0  every account in scope was delivered\n"
    "  1  some accounts failed, or accounts asked for were not processed (the run otherwise\n"
    "     completed; see the summary and the manifest)\n"
    "  2  usage or configuration error\n"
    "  3  the run could not start: no credentials, a failed check of the destination or topic,\n"
    "     the organization could not be listed\n"
    "  4  another run holds the lock (see --lock-file)\n"
    "  5  no account was in scope: nothing was collected\n"
    "  130, 143  stopped by SIGINT or SIGTERM: no new account started, accounts in flight\n"
    "     had [run] grace_period seconds to finish, the manifest was written\n"
    "  A plain script exits with the integer its main chunk returns (0 by default), 1 when it\n"
    "  fails.\n";

static bool s_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool s_is_file(const char *dir, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, rel);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* credreport lua-path: where each module of the library comes from. */
static int s_print_lua_path(const char *lua_dir)
{
    printf("Lua directory: %s\n", lua_dir ? lua_dir : "none (CREDREPORT_LUA_DIR is not set and no "
                                        "lua/ or share/credreport/lua is beside the binary)");
    for (const struct lua_bundle_file *f = lua_bundle; f->path; f++) {
        bool file = lua_dir && s_is_file(lua_dir, f->path);
        printf("  %-34s %s%s%s\n", f->path, file ? lua_dir : "built into the binary", file ? "/" : "",
               file ? f->path : "");
    }
    return EXIT_DELIVERED;
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

enum {
    OPT_OU = 256, OPT_ACCOUNT, OPT_EXCLUDE, OPT_CONCURRENCY, OPT_THREADS, OPT_OUTPUT,
    OPT_DRY_RUN, OPT_REGION, OPT_PROFILE, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_VERSION,
    OPT_RESUME, OPT_SHARD, OPT_LOCK_FILE, OPT_LOG_FILE, OPT_FORMAT,
};

static const struct option s_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"ou", required_argument, NULL, OPT_OU},
    {"account", required_argument, NULL, OPT_ACCOUNT},
    {"exclude-account", required_argument, NULL, OPT_EXCLUDE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"region", required_argument, NULL, OPT_REGION},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"version", no_argument, NULL, OPT_VERSION},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"lock-file", required_argument, NULL, OPT_LOCK_FILE},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {NULL, 0, NULL, 0},
};

/* Each option that sets a setting, and the setting. */
static const struct { int opt; const char *section, *key, *name; } s_option_settings[] = {
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

static const char *const s_commands[] = {"run", "accounts", "lua-path", "help", "version"};

/* What the command line asks for. */
struct cli {
    const char *command;
    const char *config_path;
    const char *script;      /* NULL: the bundled organization-wide workflow */
    int script_argc;
    char **script_argv;
    const char *format;      /* credreport accounts --format */
    struct { const char *section, *key, *value, *name; } sets[64];
    size_t n_sets;
    struct buf ous, include, exclude; /* repeatable options, gathered, then set once */
    bool dry_run, resume;
};

static int s_append(struct buf *b, const char *v)
{
    return (b->len ? buf_putc(b, ',') : 0) | buf_puts(b, v);
}

/* Records an option that sets a value; -1 when there is no room for another. */
static int s_set(struct cli *cli, const char *section, const char *key, const char *value,
                 const char *name)
{
    if (cli->n_sets == sizeof cli->sets / sizeof *cli->sets)
        return -1;
    cli->sets[cli->n_sets].section = section;
    cli->sets[cli->n_sets].key = key;
    cli->sets[cli->n_sets].value = value;
    cli->sets[cli->n_sets].name = name;
    cli->n_sets++;
    return 0;
}

/* "unknown option --ouput (did you mean --output?)" */
static void s_unknown_option(const char *arg)
{
    char name[64];
    size_t n = strcspn(arg + (arg[1] == '-' ? 2 : 1), "=");
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1),
             arg + (arg[1] == '-' ? 2 : 1));
    struct suggestion sg;
    suggest_init(&sg, name);
    for (const struct option *o = s_options; o->name; o++)
        suggest_consider(&sg, o->name);
    fprintf(stderr, "credreport: unknown option %s%s%s%s (try credreport --help)\n", arg,
            sg.best ? " (did you mean --" : "", sg.best ? sg.best : "", sg.best ? "?)" : "");
}

/* Reads the command line into cli. Returns -1 to go on, else the exit status (help, version
 * or a usage error, already reported). */
static int s_parse_cli(int argc, char **argv, struct cli *cli)
{
    int c, index;
    opterr = 0;
    /* Options may come before or after the command; GNU getopt moves the others after
     * them. Script arguments that start with '-' go after "--". */
    while ((c = getopt_long(argc, argv, ":c:hvq", s_options, &index)) != -1) {
        const char *arg = argv[optind - 1];
        if (c == '?') {
            if (optopt && optopt < 256)
                fprintf(stderr, "credreport: unknown option -%c (try credreport --help)\n", optopt);
            else
                s_unknown_option(arg);
            return EXIT_USAGE;
        }
        if (c == ':') {
            fprintf(stderr, "credreport: %s needs a value (try credreport --help)\n", arg);
            return EXIT_USAGE;
        }
        /* A value in its own word that looks like an option is one the user forgot: the
         * run must not take --dry-run as a folder name. --opt=-value is taken as written. */
        if (optarg && optarg == arg && optarg[0] == '-' && optarg[1]) {
            fprintf(stderr, "credreport: %s needs a value, but the next word is the option "
                            "'%s' (write %s=VALUE for a value that starts with '-')\n",
                    argv[optind - 2], optarg, argv[optind - 2]);
            return EXIT_USAGE;
        }
        int kept = 0; /* -1: a value the options could not keep */
        switch (c) {
        case 'c': cli->config_path = optarg; break;
        case 'h': fputs(s_usage, stdout); return EXIT_DELIVERED;
        case OPT_VERSION: printf("credreport %s\n", CREDREPORT_VERSION); return EXIT_DELIVERED;
        case 'v': kept = s_set(cli, "log", "level", "debug", "--verbose"); break;
        case 'q': kept = s_set(cli, "log", "level", "warn", "--quiet"); break;
        /* A lost --ou or --exclude-account would change what the run touches. */
        case OPT_OU:
        case OPT_ACCOUNT:
        case OPT_EXCLUDE:
            if (s_append(c == OPT_OU ? &cli->ous : c == OPT_ACCOUNT ? &cli->include : &cli->exclude,
                         optarg) != 0) {
                fprintf(stderr, "credreport: out of memory\n");
                return EXIT_CANNOT_START;
            }
            break;
        case OPT_DRY_RUN: cli->dry_run = true; break;
        case OPT_RESUME: cli->resume = true; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "table") != 0 && strcmp(optarg, "json") != 0 && strcmp(optarg, "csv") != 0) {
                fprintf(stderr, "credreport: --format: expected table, json or csv, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            cli->format = optarg;
            break;
        default:
            for (size_t i = 0; i < sizeof s_option_settings / sizeof *s_option_settings; i++)
                if (s_option_settings[i].opt == c)
                    kept = s_set(cli, s_option_settings[i].section, s_option_settings[i].key,
                                 optarg, s_option_settings[i].name);
        }
        if (kept != 0) {
            fprintf(stderr, "credreport: too many options (at most %zu that set a value)\n",
                    sizeof cli->sets / sizeof *cli->sets);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(s_usage, stderr);
        return EXIT_USAGE;
    }
    cli->command = argv[optind++];
    if (strcmp(cli->command, "help") == 0) {
        fputs(s_usage, stdout);
        return EXIT_DELIVERED;
    }
    if (strcmp(cli->command, "version") == 0) {
        printf("credreport %s\n", CREDREPORT_VERSION);
        return EXIT_DELIVERED;
    }
    if (strcmp(cli->command, "run") != 0 && strcmp(cli->command, "accounts") != 0 &&
        strcmp(cli->command, "lua-path") != 0) {
        struct suggestion sg;
        suggest_init(&sg, cli->command);
        for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++)
            suggest_consider(&sg, s_commands[i]);
        fprintf(stderr, "credreport: unknown command '%s'%s%s%s (commands: run, accounts, lua-path; try "
                        "credreport --help)\n", cli->command, sg.best ? " (did you mean " : "",
                sg.best ? sg.best : "", sg.best ? "?)" : "");
        return EXIT_USAGE;
    }
    if (cli->format && strcmp(cli->command, "accounts") != 0) {
        fprintf(stderr, "credreport: --format is an option of credreport accounts\n");
        return EXIT_USAGE;
    }
    cli->script = optind < argc ? argv[optind++] : NULL;
    cli->script_argc = argc - optind;
    cli->script_argv = argv + optind;
    return -1;
}

/* The worse of two results of config_load or config_set: memory that ran out comes first, as
 * it is no mistake in the settings. */
static int s_worse(int a, int b)
{
    if (a == CONFIG_NO_MEMORY || b == CONFIG_NO_MEMORY)
        return CONFIG_NO_MEMORY;
    return a ? a : b;
}

/* Settings: defaults, then the file, then the command line. Returns -1 to go on, else the
 * exit status (errors reported). */
static int s_load_settings(const struct cli *cli, struct config *cfg)
{
    struct buf errors = BUF_INIT;
    int status = EXIT_USAGE;
    if (config_init(cfg) != 0) {
        fprintf(stderr, "credreport: out of memory\n");
        status = EXIT_CANNOT_START;
        goto done;
    }
    const char *path = cli->config_path;
    bool explicit_config = path != NULL;
    if (!path && getenv("CREDREPORT_CONFIG") && *getenv("CREDREPORT_CONFIG")) {
        path = getenv("CREDREPORT_CONFIG");
        explicit_config = true;
    }
    int bad = config_load(cfg, path ? path : "config.ini", explicit_config, &errors);
    const struct { const struct buf *b; const char *key, *name; } lists[] = {
        {&cli->ous, "ous", "--ou"}, {&cli->include, "include", "--account"},
        {&cli->exclude, "exclude", "--exclude-account"}};
    for (size_t i = 0; i < 3; i++)
        if (lists[i].b->len)
            bad = s_worse(bad, config_set(cfg, "accounts", lists[i].key, lists[i].b->data,
                                          lists[i].name, &errors));
    for (size_t i = 0; i < cli->n_sets; i++)
        bad = s_worse(bad, config_set(cfg, cli->sets[i].section, cli->sets[i].key,
                                      cli->sets[i].value, cli->sets[i].name, &errors));
    if (cli->dry_run)
        bad = s_worse(bad, config_set(cfg, "run", "dry_run", "true", "--dry-run", &errors));
    if (cli->resume)
        bad = s_worse(bad, config_set(cfg, "run", "resume", "true", "--resume", &errors));
    if (!bad)
        bad = config_validate(cfg, &errors);
    if (bad) {
        fprintf(stderr, "credreport: %s:\n%s%s",
                bad == CONFIG_NO_MEMORY ? "out of memory while reading the settings"
                                        : "configuration errors",
                errors.data ? errors.data : "",
                errors.len && errors.data[errors.len - 1] != '\n' ? "\n" : "");
        if (bad == CONFIG_NO_MEMORY)
            status = EXIT_CANNOT_START;
        goto done;
    }
    /* The environment's CA bundle is checked like [aws] ca_bundle, which wins over it. */
    const char *env_ca = getenv("AWS_CA_BUNDLE");
    if (!*config_str(cfg, "aws", "ca_bundle") && env_ca && *env_ca &&
        config_check_ca_file(env_ca, &errors) != 0) {
        fprintf(stderr, "credreport: AWS_CA_BUNDLE: %s\n", errors.data);
        goto done;
    }
    const char *shard = config_str(cfg, "run", "shard");
    long shard_k, shard_n;
    buf_reset(&errors);
    int shard_rc = *shard ? config_shard(shard, &shard_k, &shard_n, &errors) : 0;
    if (shard_rc != 0) {
        fprintf(stderr, "credreport: --shard %s %s\n", shard,
                errors.data ? errors.data : "out of memory");
        if (shard_rc == CONFIG_NO_MEMORY)
            status = EXIT_CANNOT_START;
        goto done;
    }
    log_configure(config_str(cfg, "log", "level"), strcmp(config_str(cfg, "log", "format"), "json") == 0);
    const char *log_file = config_str(cfg, "log", "file");
    if (*log_file && log_open_file(log_file) != 0) {
        fprintf(stderr, "credreport: cannot open the log file %s: %s\n", log_file, ERRNO_TEXT(errno));
        goto done;
    }
    status = -1;
done:
    buf_free(&errors);
    return status;
}

/* [endpoints]: every key but url and allow_http names a service. Returns their URLs in an
 * array the caller frees, *n of them, or NULL when memory runs out. */
static struct endpoint_url *s_endpoint_urls(const struct config *cfg, size_t *n)
{
    struct endpoint_url *urls = calloc(cfg->n, sizeof *urls);
    *n = 0;
    for (size_t i = 0; urls && i < cfg->n; i++) {
        const struct config_value *v = &cfg->values[i];
        if (strcmp(v->section, "endpoints") == 0 && strcmp(v->key, "url") != 0 &&
            strcmp(v->key, "allow_http") != 0 && *v->text)
            urls[(*n)++] = (struct endpoint_url){v->key, v->text};
    }
    return urls;
}

/* Everything the runtimes of a run need, from the settings. */
static void s_workflow_options(const struct config *cfg, struct workflow_options *o)
{
    o->rt.region = config_str(cfg, "aws", "region");
    http_settings_default(&o->rt.http);
    o->rt.http.user_agent = "credreport/" CREDREPORT_VERSION;
    o->rt.http.connect_timeout_ms = (long)(config_num(cfg, "aws", "connect_timeout") * 1000);
    o->rt.http.total_timeout_ms = (long)(config_num(cfg, "aws", "request_timeout") * 1000);
    o->rt.http.ca_bundle = config_str(cfg, "aws", "ca_bundle");
    retry_config_default(&o->rt.retry);
    o->rt.retry.max_attempts = (int)config_int(cfg, "aws", "max_attempts");
    o->rt.endpoints.global = config_str(cfg, "endpoints", "url");
    o->rt.endpoints.allow_http = config_bool(cfg, "endpoints", "allow_http");
    o->rt.config = cfg;
    long threads = config_int(cfg, "run", "threads");
    /* The main thread lists the organization and takes every outcome: it keeps a CPU busy
     * too. On 2 CPUs, one worker ran 1,000 accounts with 15% less CPU than two, in the same
     * time, and 10,000 in the same time too (bench/run-org). */
    if (threads <= 0)
        threads = cpus_usable() - 1;
    o->threads = threads > 0 ? (int)threads : 1;
    o->concurrency = (int)config_int(cfg, "run", "concurrency");
    if (o->threads > o->concurrency)
        o->threads = o->concurrency;
    /* [aws] max_connections is per endpoint for the whole run. In a workflow run the main thread
     * keeps as many as it lists the organization with at once, or a worker's share if that is
     * fewer, and the workers share the rest. */
    int total = (int)config_int(cfg, "aws", "max_connections");
    int main_share = total / (o->threads + 1);
    if (main_share > MAIN_THREAD_CONNECTIONS)
        main_share = MAIN_THREAD_CONNECTIONS;
    o->rt.http.max_connections = total;
    o->main_connections = main_share > 0 ? main_share : 1;
    /* A worker without a connection of its own would only queue behind the others. */
    if (o->threads > total - o->main_connections)
        o->threads = total - o->main_connections > 1 ? total - o->main_connections : 1;
    int worker_share = (total - o->main_connections) / o->threads;
    o->worker_connections = worker_share > 0 ? worker_share : 1;
    /* Left to its default, the bound grows for an endpoint far away (loop.c): a user never
     * has to raise it for a distant region. One that is set is a limit (a proxy's, a NAT
     * gateway's), kept. */
    const struct config_value *set = config_get(cfg, "aws", "max_connections");
    o->worker_grow_connections = set && set->set ? 0 : GROW_CONNECTIONS * o->worker_connections;
    o->grace_period = config_num(cfg, "run", "grace_period");
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
    struct cli cli = {.ous = BUF_INIT, .include = BUF_INIT, .exclude = BUF_INIT};
    struct config cfg = {0};
    struct aws_shared shared = {0};
    struct endpoint_url *endpoint_urls = NULL;
    int status = s_parse_cli(argc, argv, &cli);
    if (status >= 0)
        goto done;
    status = s_load_settings(&cli, &cfg);
    if (status >= 0)
        goto done;
    if (config_bool(&cfg, "run", "core_dumps"))
        s_allow_core_dumps(&core_limit);
    status = EXIT_CANNOT_START;

    /* The Lua library: a directory when there is one, else the one built into the binary. */
    char lua_dir_buf[PATH_MAX], script_buf[PATH_MAX + 32];
    const char *lua_dir = s_lua_dir(lua_dir_buf, sizeof lua_dir_buf);
    if (strcmp(cli.command, "lua-path") == 0) {
        status = s_print_lua_path(lua_dir);
        goto done;
    }
    const char *script = cli.script;
    if (!script) {
        if (lua_dir && s_is_file(lua_dir, "workflows/organization.lua"))
            snprintf(script_buf, sizeof script_buf, "%s/workflows/organization.lua", lua_dir);
        else
            snprintf(script_buf, sizeof script_buf, RUNTIME_BUILTIN "workflows/organization.lua");
        script = script_buf;
    }

    struct run_info run;
    s_run_info(&run);
    log_set_run_id(run.id);
    if (aws_shared_init(&shared) != 0) {
        fprintf(stderr, "credreport: out of memory\n");
        goto done;
    }
    struct workflow_options o;
    memset(&o, 0, sizeof o);
    s_workflow_options(&cfg, &o);
    endpoint_urls = s_endpoint_urls(&cfg, &o.rt.endpoints.n_service_urls);
    if (!endpoint_urls) {
        fprintf(stderr, "credreport: out of memory\n");
        goto done;
    }
    o.rt.endpoints.service_urls = endpoint_urls;
    o.rt.lua_dir = lua_dir;
    o.rt.run = &run;
    o.rt.shared = &shared;
    o.script = script;
    o.argc = cli.script_argc;
    o.argv = cli.script_argv;
    o.format = cli.format ? cli.format : "table";
    bool accounts = strcmp(cli.command, "accounts") == 0;
    o.mode = accounts ? WF_ACCOUNTS : config_bool(&cfg, "run", "dry_run") ? WF_DRY_RUN : WF_RUN;
    char lock_buf[PATH_MAX], lock_err[512];
    o.lock_path = config_str(&cfg, "run", "lock_file");
    if (!*o.lock_path && o.mode == WF_RUN) {
        if (runlock_default_path(lock_buf, sizeof lock_buf, lock_err, sizeof lock_err) != 0) {
            fprintf(stderr, "credreport: no private place for the run lock: %s (set one with "
                            "--lock-file or [run] lock_file)\n", lock_err);
            goto done;
        }
        o.lock_path = lock_buf;
    }
    /* A closed stdout (a pipe to head) must not kill a run half-way. */
    signal(SIGPIPE, SIG_IGN);

    if (loop_global_init() != 0) {
        fprintf(stderr, "credreport: cannot initialise libcurl\n");
        goto done;
    }
    status = workflow_main(&o);
    loop_global_cleanup();
done:
    free(endpoint_urls);
    aws_shared_cleanup(&shared);
    buf_free(&cli.ous);
    buf_free(&cli.include);
    buf_free(&cli.exclude);
    config_free(&cfg);
    return status;
}
