/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-backup.c - libFuzzer target for the backup reader (mqs_backup.h).
 *
 * Input: a backup file.  mqs_backup_read (fixed recovery and signing keys,
 * broker kind, 1 MiB cap) never crashes, and on failure leaves every
 * out-parameter empty.  The input is also opened as a database image
 * (mqs_backup_db_open): never crashes.  seeds/backup/ holds a backup made
 * with the fixed keys (recovery private key 32 x 0x11, signing seed
 * 32 x 0x22, chunk size 1024), so mutations reach the chunk parser; only
 * that seed itself is accepted.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mqs_backup.h"
#include "mqs_error.h"
#include "mqs_util.h"

static uint8_t rpriv[MQS_BACKUP_KEY_LEN];
static uint8_t spub[MQS_BACKUP_KEY_LEN];
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mk = NULL, *img = NULL, spriv[MQS_BACKUP_KEY_LEN];
	size_t mk_len = 0, img_len = 0;
	sqlite3 *mem = NULL;
	const char *why = NULL;
	int fd, rc;

	if (!ready) {
		memset(rpriv, 0x11, sizeof(rpriv));
		memset(spriv, 0x22, sizeof(spriv));
		if (mqs_backup_public(1, spriv, spub) != MQS_OK)
			abort();
		ready = 1;
	}
	fd = memfd_create("fuzz-backup", 0);
	if (fd < 0)
		return 0;
	if (mqs_write_all(fd, data, size) != MQS_OK || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	rc = mqs_backup_read(fd, MQS_BACKUP_KIND_BROKER, rpriv, spub, 1u << 20, NULL, &mk, &mk_len,
	                     &img, &img_len, &why);
	if (rc == MQS_OK) {
		/* only an untouched seed (made with the fixed keys) gets here */
		if (mk == NULL || img == NULL || mk_len == 0 || mk_len > MQS_BACKUP_MK_MAX)
			abort();
		mqs_secret_free(mk, mk_len);
		mqs_secret_free(img, img_len);
	} else if (mk != NULL || img != NULL || mk_len != 0 || img_len != 0 || why == NULL) {
		abort();
	}
	close(fd);
	if (mqs_backup_db_open(data, size, &mem) == MQS_OK)
		sqlite3_close_v2(mem);
	return 0;
}
