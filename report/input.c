/*
 * Copyright (C) the ngx_prep authors
 *
 * Reading one input whole: a file, or an http(s) URL through libcurl
 * with a connect and a total timeout, a size bound, and errors that say
 * which input failed and why (403: the status location's allow/deny;
 * a timeout; a refused connection).  The SHA-256 of the bytes read is
 * kept for the methodology, so the document can be checked against its
 * inputs.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "report.h"


typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
    int      too_large;
} rpt_dl_t;


static void
rpt_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned       i, n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    n = 0;

    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1) {
        n = 0;
    }

    for (i = 0; i < n && i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }

    hex[2 * i] = '\0';
}


static int
rpt_read_file(const char *path, char **data, size_t *len, char *err,
    size_t errlen)
{
    int          fd;
    char        *buf;
    size_t       off;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }

    if ((uint64_t) st.st_size > RPT_INPUT_MAX) {
        snprintf(err, errlen, "%s: %lld bytes, over the limit of %zu",
                 path, (long long) st.st_size, RPT_INPUT_MAX);
        close(fd);
        return -1;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }

    for (off = 0; off < (size_t) st.st_size; off += (size_t) n) {
        n = read(fd, buf + off, (size_t) st.st_size - off);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            /* shrunk while read: what was read is what there is */
            if (n == 0) {
                break;
            }

            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
    }

    close(fd);
    buf[off] = '\0';
    *data = buf;
    *len = off;
    return 0;
}


static size_t
rpt_dl_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    char      *p;
    size_t     n, want;
    rpt_dl_t  *dl;

    dl = arg;
    n = size * nmemb;

    if (dl->len + n > RPT_INPUT_MAX) {
        dl->too_large = 1;
        return 0;
    }

    if (dl->len + n + 1 > dl->size) {
        want = dl->size ? dl->size : 65536;

        while (want < dl->len + n + 1) {
            want *= 2;
        }

        p = realloc(dl->data, want);
        if (p == NULL) {
            return 0;
        }

        dl->data = p;
        dl->size = want;
    }

    memcpy(dl->data + dl->len, ptr, n);
    dl->len += n;
    dl->data[dl->len] = '\0';
    return n;
}


static int
rpt_read_url(const char *url, long timeout, int insecure, char **data,
    size_t *len, char *err, size_t errlen)
{
    long       status;
    CURL      *h;
    CURLcode   rc;
    rpt_dl_t   dl;
    char       cerr[CURL_ERROR_SIZE];

    memset(&dl, 0, sizeof(dl));
    cerr[0] = '\0';

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "%s: libcurl could not start", url);
        return -1;
    }

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rpt_dl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &dl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "prep-report");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t) RPT_INPUT_MAX);
    /* the state is binary: no content decoding games, no redirects */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);

    if (insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    rc = curl_easy_perform(h);
    status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);

    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(err, errlen, "%s: timed out after %ld s (--timeout)",
                     url, timeout);

        } else if (dl.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            snprintf(err, errlen, "%s: the answer is over %zu bytes", url,
                     RPT_INPUT_MAX);

        } else {
            snprintf(err, errlen, "%s: %s", url,
                     cerr[0] ? cerr : curl_easy_strerror(rc));
        }

        free(dl.data);
        return -1;
    }

    if (status != 200) {
        if (status == 403 || status == 401) {
            snprintf(err, errlen, "%s: HTTP %ld: the status location "
                     "refuses this address (its allow/deny or "
                     "authentication)", url, status);

        } else if (status == 404) {
            snprintf(err, errlen, "%s: HTTP 404: no status location "
                     "there", url);

        } else {
            snprintf(err, errlen, "%s: HTTP %ld", url, status);
        }

        free(dl.data);
        return -1;
    }

    if (dl.data == NULL) {
        snprintf(err, errlen, "%s: empty answer", url);
        return -1;
    }

    *data = dl.data;
    *len = dl.len;
    return 0;
}


int
rpt_read_input(const char *input, long timeout, int insecure, char **data,
    size_t *len, char sha256[65], char *err, size_t errlen)
{
    int  rc;

    if (strncmp(input, "http://", 7) == 0
        || strncmp(input, "https://", 8) == 0)
    {
        rc = rpt_read_url(input, timeout, insecure, data, len, err, errlen);

    } else {
        rc = rpt_read_file(input, data, len, err, errlen);
    }

    if (rc == 0) {
        rpt_sha256_hex(*data, *len, sha256);
    }

    return rc;
}
