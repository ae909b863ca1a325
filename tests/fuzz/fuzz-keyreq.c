/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-keyreq.c - libFuzzer target for the key request parser of the
 * broker plugin (broker-plugin/keyreq.h, docs/payload-encryption.md
 * "Online keys"): any plaintext must parse or fail cleanly; what parses
 * holds 1..64 distinct filters within the length cap. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyreq.h"
#include "mqs_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqsp_keyreq r;

	if (mqsp_keyreq_parse(data, size, &r) != MQS_OK)
		return 0;
	if (r.nfilters == 0 || r.nfilters > MQSP_KEYREQ_FILTERS_MAX)
		abort();
	for (size_t i = 0; i < r.nfilters; i++) {
		size_t n = strlen(r.filters[i]);

		if (n == 0 || n > MQSP_KEYREQ_FILTER_LEN)
			abort();
		for (size_t j = 0; j < i; j++) {
			if (strcmp(r.filters[i], r.filters[j]) == 0)
				abort();
		}
	}
	mqsp_keyreq_release(&r);
	return 0;
}
