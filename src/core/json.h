/* JSON objects given through the API (record metadata, edge props), parsed one way for every
 * room that takes them. */
#ifndef MNEMO_CORE_JSON_H
#define MNEMO_CORE_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses and validates text that must be a JSON object of at most max bytes (also once stored:
 * 0.1 prints as 0.10000000000000001): returned parsed and as compact text with sorted keys
 * (mnemo__malloc'd). NULL text is {}. MNEMO_EINVAL names fn and `what`; MNEMO_ENOMEM. */
int mnemo__json_object(json_t **json, char **compact, const char *text, size_t max, const char *fn, const char *what);

#endif
