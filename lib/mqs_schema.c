/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_schema.c - the broker database schema, as ordered migrations.
 *
 * Never edit a released migration; append a new one.  Index i brings the
 * database from user_version i to i+1.
 */
#include "config.h"

#include "mqs_db.h"

const char *const mqs_broker_schema[] = {
    /* 1: keys, devices, lists, groups, ACL rules, protected topics, audit */
    "CREATE TABLE keys ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 4294967295),"
    "  purpose TEXT NOT NULL CHECK (purpose IN ('device', 'topic')),"
    "  owner TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),"
    "  created_at INTEGER NOT NULL,"
    "  retire_after INTEGER NOT NULL DEFAULT 0,"
    "  wrapped BLOB NOT NULL);"
    "CREATE INDEX keys_owner ON keys(purpose, owner);"
    "CREATE TABLE devices ("
    "  name TEXT PRIMARY KEY,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  digits INTEGER NOT NULL DEFAULT 6 CHECK (digits IN (6, 8)),"
    "  period INTEGER NOT NULL DEFAULT 30 CHECK (period BETWEEN 1 AND 3600),"
    "  algorithm TEXT NOT NULL DEFAULT 'SHA1',"
    "  totp_wrapped BLOB NOT NULL,"
    "  last_step INTEGER NOT NULL DEFAULT -1,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE list_entries ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL CHECK (kind IN ('allow', 'deny')),"
    "  match TEXT NOT NULL CHECK (match IN ('clientid', 'username', 'ip')),"
    "  pattern TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE groups ("
    "  name TEXT PRIMARY KEY);"
    "CREATE TABLE group_members ("
    "  grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,"
    "  member TEXT NOT NULL,"
    "  PRIMARY KEY (grp, member));"
    "CREATE TABLE acl_rules ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  effect TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),"
    "  access TEXT NOT NULL CHECK (access IN ('pub', 'sub', 'read', 'all')),"
    "  subject TEXT NOT NULL,"
    "  filter TEXT NOT NULL,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE protected_topics ("
    "  filter TEXT PRIMARY KEY,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  who TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '');",
    /* 2: owned client ids (docs/broker-plugin.md, "Client ids"), identity
     * generations: a device removed and added again is another identity */
    "ALTER TABLE devices ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;"
    "UPDATE devices SET generation = (random() & 9223372036854775807) | 1;"
    "CREATE TABLE clientids ("
    "  clientid TEXT PRIMARY KEY,"
    "  username TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE INDEX clientids_username ON clientids(username);"
    /* what mqttsec-acl released, for the running plugin: an id (username
     * NULL: whoever holds it) or every id of a username (clientid NULL) */
    "CREATE TABLE clientid_releases ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  clientid TEXT,"
    "  username TEXT,"
    "  at INTEGER NOT NULL,"
    "  CHECK (clientid IS NOT NULL OR username IS NOT NULL));",
    /* 3: keys and identity (docs/payload-encryption.md, "Keys and
     * identity").  keys.seal_after: Unix seconds from which a new topic key
     * seals (it is announced to subscribers before); keys.sealed: messages
     * the broker reserved for sealing with that key, written before they
     * are sealed, so it is never below the truth, also after a crash.
     * protected_topics.rotate_every: seconds between automatic rotations
     * (0: by count and by hand only); per_device: the topic level (1-based)
     * that names the device whose own key seals the downlink (0: the
     * filter's shared topic key).  key_grants: who holds which topic key
     * (online answers and key exports), so revoking a holder rotates.
     * token_seen: connect-token nonces accepted within the replay window.
     * settings: what the running plugin accepts (connect_tokens on|off),
     * for the credentials mqttsec-acl writes. */
    "ALTER TABLE keys ADD COLUMN seal_after INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE keys ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE protected_topics ADD COLUMN rotate_every INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE protected_topics ADD COLUMN per_device INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE key_grants ("
    "  username TEXT NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  filter TEXT NOT NULL,"
    "  via TEXT NOT NULL CHECK (via IN ('online', 'export')),"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (username, key_id));"
    "CREATE INDEX key_grants_filter ON key_grants(filter);"
    "CREATE TABLE token_seen ("
    "  username TEXT NOT NULL,"
    "  nonce BLOB NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (username, nonce));"
    "CREATE INDEX token_seen_at ON token_seen(at);"
    "CREATE TABLE settings ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);",
    /* 4: indexes for the read rule of topic keys, run for every holder
     * after every change (docs/payload-encryption.md, "Revoking rotates") */
    "CREATE INDEX acl_rules_subject ON acl_rules(subject);"
    "CREATE INDEX group_members_member ON group_members(member);"
    "CREATE INDEX list_entries_pattern ON list_entries(match, pattern);",
    /* 5: the client id and peer address of the online fetch that got a
     * grant (NULL: a key export, or a grant recorded before), so that deny
     * entries by client id or ip, and the allow entry that let the fetch in,
     * count for the holder (docs/payload-encryption.md, "Revoking
     * rotates") */
    "ALTER TABLE key_grants ADD COLUMN clientid TEXT;"
    "ALTER TABLE key_grants ADD COLUMN address TEXT;",
    /* 6: keyset paging of the rules in evaluation order (higher priority
     * first, deny before allow, then id: docs/console.md, "Pages"), all
     * or of one subject, without sorting the table: two virtual columns
     * (computed, nothing stored in the rows) and indexes in that order */
    "ALTER TABLE acl_rules ADD COLUMN page_prio INTEGER GENERATED ALWAYS AS (-priority) "
    "VIRTUAL;"
    "ALTER TABLE acl_rules ADD COLUMN page_allow INTEGER GENERATED ALWAYS AS (effect <> "
    "'deny') VIRTUAL;"
    "CREATE INDEX acl_rules_order ON acl_rules(page_prio, page_allow, id);"
    "CREATE INDEX acl_rules_subject_order ON acl_rules(subject, page_prio, page_allow, id);",
};

const int mqs_broker_schema_count = (int)(sizeof(mqs_broker_schema) / sizeof(mqs_broker_schema[0]));
