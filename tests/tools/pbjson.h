/* pbjson — any protobuf-c message to and from JSON, through its descriptor.
 *
 * A test tool's helper (zmqpoke --msg/--await): a hostile peer must be able
 * to say exactly what it sends, field by field, including what no honest
 * drover program would send (a worker name it does not own, a forged
 * Result). Field names are the .proto names; enums are written as their
 * names (numbers are accepted too); bytes are JSON strings (bytes as is on
 * the way in; on the way out anything outside printable ASCII becomes '?');
 * 64-bit integers are JSON numbers. Unknown field names are an error, so a
 * typo in a test cannot silently send an empty message.
 */
#ifndef DROVER_PBJSON_H
#define DROVER_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Packs the message described by `d` from `j` into *out (malloc'd, caller
 * frees). Returns 0, or -1 with a reason in err. */
int pbjson_pack(const ProtobufCMessageDescriptor *d, const json_t *j, uint8_t **out, size_t *len,
                char *err, size_t errlen);

/* Unpacks bytes as `d` into a new JSON object (caller decrefs); NULL when the
 * bytes are not such a message. */
json_t *pbjson_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len);

#endif
