/*
 * Copyright (C) the ngx_prep authors
 *
 * memoria-tecnica.pdf: the HTML printed by Debian's Chromium headless
 * (its print stylesheet gives A4).  Run without a shell, with its own
 * empty profile directory, stdout and stderr to a log file that is
 * quoted when it fails; a missing Chromium is a clear message.
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"


static int
rpt_pdf_find(const char *name, char *path, size_t size)
{
    char        *p, *dir, *save, *copy;
    const char  *env;

    if (strchr(name, '/') != NULL) {
        snprintf(path, size, "%s", name);
        return access(path, X_OK);
    }

    env = getenv("PATH");
    copy = strdup(env ? env : "/usr/bin:/bin");

    if (copy == NULL) {
        return -1;
    }

    for (p = copy; (dir = strtok_r(p, ":", &save)) != NULL; p = NULL) {
        snprintf(path, size, "%s/%s", dir, name);

        if (access(path, X_OK) == 0) {
            free(copy);
            return 0;
        }
    }

    free(copy);
    return -1;
}


int
rpt_pdf(rpt_t *r, const char *dir, char *err, size_t errlen)
{
    int          fd, status;
    char         bin[4096], absdir[PATH_MAX], html[PATH_MAX + 64];
    char         url[PATH_MAX + 80], out[PATH_MAX + 80], arg[PATH_MAX + 96];
    char         profile[PATH_MAX + 64], logf[PATH_MAX + 64], tail[512];
    pid_t        pid;
    ssize_t      n;
    struct stat  st;

    if (rpt_pdf_find(r->opts->chromium, bin, sizeof(bin)) != 0) {
        snprintf(err, errlen, "Chromium (\"%s\") was not found: install "
                 "Debian's chromium package, or give its path with "
                 "--chromium; the HTML and the annexes were written",
                 r->opts->chromium);
        return -1;
    }

    if (realpath(dir, absdir) == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }

    snprintf(html, sizeof(html), "%s/memoria-tecnica.html", absdir);
    snprintf(url, sizeof(url), "file://%s", html);
    snprintf(out, sizeof(out), "%s/memoria-tecnica.pdf", absdir);
    snprintf(arg, sizeof(arg), "--print-to-pdf=%s", out);
    snprintf(profile, sizeof(profile), "%s/.chromium-XXXXXX", absdir);
    snprintf(logf, sizeof(logf), "%s/.chromium.log", absdir);

    if (mkdtemp(profile) == NULL) {
        snprintf(err, errlen, "%s: %s", profile, strerror(errno));
        return -1;
    }

    unlink(out);

    pid = fork();
    if (pid == -1) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }

    if (pid == 0) {
        char  udd[PATH_MAX + 80];

        fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd != -1) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }

        snprintf(udd, sizeof(udd), "--user-data-dir=%s", profile);
        setenv("HOME", profile, 1);

        execl(bin, bin, "--headless", "--no-sandbox", "--disable-gpu",
              "--no-first-run", "--no-default-browser-check",
              "--disable-extensions", "--disable-background-networking",
              "--no-pdf-header-footer", "--print-to-pdf-no-header", udd,
              arg, url, (char *) NULL);
        _exit(127);
    }

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        /* again */
    }

    {
        /* the profile is Chromium's scratch: remove it, best effort */
        char  cmd[PATH_MAX + 128];
        pid_t rm;

        (void) cmd;
        rm = fork();
        if (rm == 0) {
            execl("/bin/rm", "rm", "-rf", profile, (char *) NULL);
            _exit(127);
        }
        if (rm > 0) {
            waitpid(rm, NULL, 0);
        }
    }

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0
        || stat(out, &st) != 0 || st.st_size == 0)
    {
        tail[0] = '\0';
        fd = open(logf, O_RDONLY);

        if (fd != -1) {
            off_t  end = lseek(fd, 0, SEEK_END);

            lseek(fd, end > 400 ? end - 400 : 0, SEEK_SET);
            n = read(fd, tail, sizeof(tail) - 1);
            tail[n > 0 ? n : 0] = '\0';
            close(fd);
        }

        snprintf(err, errlen, "%s did not print %s (%s %d): %s", bin, out,
                 WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                 tail);
        return -1;
    }

    unlink(logf);
    return 0;
}
