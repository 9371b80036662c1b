/* assets — see assets.h. A linear search: the table holds tens of files. */
#include "assets.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ETAG_LEN 24

static char (*s_etags)[ETAG_LEN]; /* one per asset, made once; lives with the process */
static pthread_once_t s_etags_once = PTHREAD_ONCE_INIT;

static void s_etags_make(void)
{
    s_etags = calloc(web_nassets ? web_nassets : 1, sizeof *s_etags);
    if (!s_etags)
        return; /* no tags: every asset is sent whole */
    for (size_t i = 0; i < web_nassets; i++) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t j = 0; j < web_assets[i].len; j++)
            h = (h ^ web_assets[i].data[j]) * 1099511628211ULL;
        snprintf(s_etags[i], ETAG_LEN, "\"%016llx\"", (unsigned long long)h);
    }
}

const char *assets_etag(const web_asset_t *a)
{
    if (pthread_once(&s_etags_once, s_etags_make) != 0 || !s_etags)
        return NULL;
    return s_etags[a - web_assets];
}

const web_asset_t *assets_find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < web_nassets; i++)
        if (strcmp(web_assets[i].path, path) == 0)
            return &web_assets[i];
    return NULL;
}

static const struct {
    const char *ext, *type;
} s_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/plain; charset=utf-8"},
    {"LICENSE", "text/plain; charset=utf-8"},
};

const char *assets_type(const char *path)
{
    size_t pl = strlen(path);
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++) {
        size_t el = strlen(s_types[i].ext);
        if (pl >= el && strcasecmp(path + pl - el, s_types[i].ext) == 0)
            return s_types[i].type;
    }
    return "application/octet-stream";
}
