/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keyrotate.c - retire a filter's topic keys, create the next one. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqs_keyrotate.h"

/* Append ",id" (or "id") to ids when it fits. */
static void ids_append(char *ids, size_t cap, unsigned long id)
{
	size_t len;

	if (cap == 0)
		return;
	len = strlen(ids);
	snprintf(ids + len, cap - len, "%s%lu", len > 0 ? "," : "", id);
}

/* Retire the active keys of filter; count and list them. */
static int retire_active(sqlite3 *db, const char *filter, int64_t retire_after, char *ids,
                         size_t cap, int *nretired)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;
	int step;

	if (sqlite3_prepare_v2(db,
	                       "UPDATE keys SET state = 'retired', retire_after = ?2 "
	                       "WHERE purpose = 'topic' AND owner = ?1 AND state = 'active' "
	                       "RETURNING id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, retire_after);
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW)
			goto out;
		(*nretired)++;
		ids_append(ids, cap, (unsigned long)sqlite3_column_int64(st, 0));
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Set when key id starts sealing. */
static int set_seal_after(sqlite3 *db, uint32_t id, int64_t seal_after)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db, "UPDATE keys SET seal_after = ?1 WHERE id = ?2", -1, &st,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, seal_after);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Rotate the topic key of filter. */
int mqs_keystore_rotate(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], const char *filter,
                        int64_t retire_after, int64_t seal_after, struct mqs_key *out, char *ids,
                        size_t cap, int *nretired)
{
	int rc;

	mqs_key_init(out);
	*nretired = 0;
	if (cap > 0)
		ids[0] = '\0';
	if (db == NULL || mk == NULL || filter == NULL || retire_after < 0 || seal_after < 0)
		return MQS_ERR_INVAL;
	rc = retire_active(db, filter, retire_after, ids, cap, nretired);
	if (rc == MQS_OK)
		rc = mqs_keystore_create(db, mk, MQS_KEY_TOPIC, filter, out);
	if (rc == MQS_OK && seal_after > 0)
		rc = set_seal_after(db, out->id, seal_after);
	if (rc != MQS_OK)
		mqs_key_release(out);
	return rc;
}
