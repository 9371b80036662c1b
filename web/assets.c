/* assets — see assets.h. A linear search: the table holds tens of files. */
#include "assets.h"

#include <string.h>
#include <strings.h>

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
