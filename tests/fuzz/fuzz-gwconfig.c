/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-gwconfig.c - libFuzzer target for the gateway configuration
 * (gw_config.h; docs/gateway.md, Configuration): any bytes as the INI
 * file, read by inih through gw_config_load() from a memory file.  Never
 * crashes; a failure gives a reason and leaves the struct empty; what loads
 * releases cleanly (twice). */
#define _GNU_SOURCE
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_log.h"
#include "mqs_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_config c;
	char err[512];
	int rc;

	if (size > 65536)
		return 0;
	if (memfd < 0) {
		memfd = memfd_create("fuzz-gwconfig", 0);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
		gw_log_set_level(GW_LOG_ERR); /* unknown keys are warnings */
	}
	if (ftruncate(memfd, 0) != 0 || (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	err[0] = '\0';
	rc = gw_config_load(path, &c, err, sizeof(err));
	if (rc != MQS_OK) {
		if (err[0] == '\0' || c.sections != NULL || c.path != NULL)
			abort();
	}
	gw_config_release(&c);
	gw_config_release(&c);
	return 0;
}
