/* The emulator (tests/emulator) as a child process of a unit test: started on a free port,
 * stopped by unit_emulator_stop() (register it with atexit), and stopped by the kernel too if
 * the test dies, a sanitizer's abort included. */
#ifndef CREDREPORT_UNIT_EMULATOR_H
#define CREDREPORT_UNIT_EMULATOR_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/loop.h"

static pid_t unit_emu_pid = -1;
static int unit_emu_out = -1; /* its stdout, kept open so that it never writes to a closed pipe */

static void unit_emulator_stop(void)
{
    if (unit_emu_pid > 0) {
        kill(unit_emu_pid, SIGTERM);
        int status;
        for (int i = 0; i < 100 && waitpid(unit_emu_pid, &status, WNOHANG) == 0; i++)
            usleep(50 * 1000);
        if (waitpid(unit_emu_pid, &status, WNOHANG) == 0) {
            kill(unit_emu_pid, SIGKILL);
            waitpid(unit_emu_pid, &status, 0);
        }
        unit_emu_pid = -1;
    }
    if (unit_emu_out >= 0) {
        close(unit_emu_out);
        unit_emu_out = -1;
    }
}

/* The repository: the working directory when run from it (make unit), else three levels up
 * from build/asan/test_NAME. */
static bool unit_find_root(char *root, size_t cap)
{
    char probe[PATH_MAX + 64];
    if (access("tests/emulator/server.js", R_OK) == 0) {
        snprintf(root, cap, ".");
        return true;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
    snprintf(probe, sizeof probe, "%s/tests/emulator/server.js", exe);
    if (access(probe, R_OK) != 0)
        return false;
    snprintf(root, cap, "%s", exe);
    return true;
}

/* Starts the emulator with tests/emulator/fixtures/small.json; its URL (http://127.0.0.1:PORT)
 * goes to url. test names the caller in messages. The test's calls then go to the emulator
 * whatever the machine's setup: its endpoint overrides and proxies are cleared. */
static bool unit_emulator_start(const char *test, char *url, size_t cap)
{
    static const char *const vars[] = {
        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_ORGANIZATIONS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "http_proxy",
        "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    char root[PATH_MAX], server[PATH_MAX + 64], fixture[PATH_MAX + 64];
    if (!unit_find_root(root, sizeof root)) {
        fprintf(stderr, "ERROR %s: tests/emulator/server.js not found\n", test);
        return false;
    }
    snprintf(server, sizeof server, "%s/tests/emulator/server.js", root);
    snprintf(fixture, sizeof fixture, "%s/tests/emulator/fixtures/small.json", root);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        /* Ends with the test even when a sanitizer aborts it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(1);
        execlp("node", "node", server, "--fixture", fixture, "--port", "0", "--host",
               "127.0.0.1", (char *)NULL);
        fprintf(stderr, "ERROR %s: cannot run node: %s\n", test, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    unit_emu_pid = pid;
    unit_emu_out = fds[0];
    char line[128];
    size_t len = 0;
    double deadline = loop_now() + 30;
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && loop_now() < deadline) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    int port = 0;
    if (sscanf(line, "READY %d", &port) != 1 || port <= 0) {
        fprintf(stderr, "ERROR %s: the emulator did not start (it printed \"%s\")\n", test, line);
        return false;
    }
    snprintf(url, cap, "http://127.0.0.1:%d", port);
    return true;
}

#endif
