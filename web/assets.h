/* assets — the files of web/ui/, embedded in drover-web at build time
 * (embed_ui.cmake writes the table; every file but package*.json,
 * node_modules and dot files), served at /<path under web/ui>. */
#ifndef DROVER_WEB_ASSETS_H
#define DROVER_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; /* "/index.html", "/vendor/x.js"; NULL ends the table */
    const unsigned char *data;
    size_t len;
} web_asset_t;

extern const web_asset_t web_assets[];
extern const size_t web_nassets;

/* The asset at url path ("/" is "/index.html"), or NULL. */
const web_asset_t *assets_find(const char *path);

/* The asset's entity tag ("\"<16 hex digits>\"", a hash of its bytes; the
 * same for as long as the binary is), for If-None-Match revalidation. */
const char *assets_etag(const web_asset_t *a);

/* The Content-Type for a path, by its extension (application/octet-stream
 * when unknown). A string literal. */
const char *assets_type(const char *path);

#endif
