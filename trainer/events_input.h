/* events_input.h - rectrain --events DIR: the events the server stored
 * (core/eventlog.h) as training interactions, beside or instead of --data.
 *
 * Owns a temporary interactions file: the --data file's bytes, then one line
 * per event of the chosen types (user or session key, the data file's
 * separator, item), so the loader (core/dataset.h) reads both as one file
 * with its usual de-duplication and filters. What was read is recorded for
 * the manifest (training.events): the environment's name, the types, and
 * the cutoff - the last sequence number and the latest timestamp read - so
 * that the server's fresh histories count only events after it.
 */
#ifndef RS_EVENTS_INPUT_H
#define RS_EVENTS_INPUT_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

typedef struct rs_events_input {
    char path[4096];     /* the temporary file (empty: none) */
    uint64_t read, used; /* events read; of those, turned into lines */
    uint64_t skipped;    /* of a chosen type but not representable (an id holding the
                            separator, a newline or a carriage return) */
    uint64_t cutoff_seq; /* the last sequence number read (0: none) */
    double cutoff_time;  /* the latest timestamp read */
} rs_events_input;

/* Writes the file: data_path's content (NULL: none) followed by the events
 * of dir whose type is one of types (comma-separated). */
int rs_events_input_make(const char *dir, const char *types, const char *data_path,
                         rs_events_input *out, rs_error *err);
/* Removes the file. */
void rs_events_input_remove(rs_events_input *in);
/* {"dir", "types", "cutoff_seq", "cutoff_time", "read", "used", "skipped"}. */
json_t *rs_events_input_json(const rs_events_input *in, const char *dir, const char *types);

#endif
