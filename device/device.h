/* SPDX-License-Identifier: BSD-3-Clause */
/* device.h - mqttsec-device: shared state and the command table.
 *
 * main.c parses the global options, loads the credentials file and
 * dispatches to one dev_cmd_* function per command.  Each command group
 * lives in its own file (cmd_offline.c: totp, seal, open; cmd_pubsub.c:
 * publish, subscribe; cmd_medical.c: publish --split, join).
 *
 * Ownership: struct dev_ctx is owned by main(); commands borrow it and must
 * not release the credentials.  Commands return a sysexits.h code and print
 * their own one-line error on stderr ("cannot ...: reason").
 */
#ifndef DEV_DEVICE_H
#define DEV_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mqs_creds.h"
#include "mqs_error.h"

#define DEV_PROG "mqttsec-device"

#define DEV_KEYFILES_MAX 16

/* State shared by every command. */
struct dev_ctx {
	const char *creds_path;                 /* -c CREDS or $MQTTSEC_CREDS */
	struct mqs_creds creds;                 /* loaded before the command runs, with the
	                                         * keys of every -K KEYFILE appended */
	const char *keyfiles[DEV_KEYFILES_MAX]; /* -K KEYFILE, in order */
	size_t nkeyfiles;
};

/* Every command has the signature of dev_cmd_totp: argv[0] is the command
 * name, argv[1..argc-1] its arguments; it returns a sysexits.h exit code. */

/* opts.c: the options every networked command shares (-h -p -t -m -f -l
 * -q -i -C -W --seal --no-seal); each command parses its own with getopt
 * and hands every option to dev_net_opt() first. */
enum { DEV_OPT_SEAL = 1000, DEV_OPT_NO_SEAL, DEV_OPT__NEXT };

struct dev_net_opts {
	const char *host; /* -h, default 127.0.0.1 */
	int port;         /* -p, default 1883 */
	const char *topic;
	const char *message;
	const char *file;
	int lines;
	int qos;       /* -q, 0 until given */
	int qos_given; /* 1 when -q was given */
	const char *client_id;
	long count;    /* -C, 0: not given */
	int timeout_s; /* -W, 0: not given */
	int seal;      /* -1 auto, 0 --no-seal, 1 --seal */
};

/* Option value s as a whole number in 1..max, or -1 with "invalid WHAT
 * S" printed. */
long dev_opt_num(const char *what, const char *s, long max);

/* Fill o with the defaults. */
void dev_net_opts_init(struct dev_net_opts *o);

/* Take option opt (a getopt result) with argument arg into o: 1 when it
 * was one of the shared options, 0 when it is not (the command's own),
 * -1 when its value is invalid (the reason is printed). */
int dev_net_opt(struct dev_net_opts *o, int opt, const char *arg);

/* cmd_offline.c: commands that never touch the network. */

/* totp: print the current TOTP code of the credentials. */
int dev_cmd_totp(struct dev_ctx *ctx, int argc, char **argv);

/* seal TOPIC: seal stdin (at most MQS_ENVELOPE_PLAIN_MAX bytes) for TOPIC
 * with the device key; write the envelope to stdout. */
int dev_cmd_seal(struct dev_ctx *ctx, int argc, char **argv);

/* open TOPIC: open the envelope on stdin with the matching key of the
 * credentials; write the plaintext to stdout only when it authenticates,
 * and "origin: NAME" on stderr when the envelope carries one. */
int dev_cmd_open(struct dev_ctx *ctx, int argc, char **argv);

/* token [-i CLIENTID]: print a one-time connect token for the
 * credentials' username and CLIENTID (default: the username)
 * (cmd_token.c; docs/broker-plugin.md, "Connect tokens"). */
int dev_cmd_token(struct dev_ctx *ctx, int argc, char **argv);

/* sms-open [--to TO] [--max-age SECS]: open the secure SMS body M1 on
 * stdin with the recipient key export ctx->creds_path (read here, not as
 * credentials); the text to stdout, "action: N" and "component: C" on
 * stderr; EX_DATAERR when refused (unknown key id, altered, wrong number,
 * stale, repeated) (cmd_sms.c; docs/sms-envelope.md). */
int dev_cmd_sms_open(struct dev_ctx *ctx, int argc, char **argv);

/* cmd_pubsub.c: commands that talk to a broker. */

/* publish [-h HOST] [-p PORT] -t TOPIC (-m MSG | -f FILE | -l) [-q QOS] [-r]
 * [--seal | --no-seal]: connect with the current TOTP code, seal when the
 * topic is protected, publish. */
int dev_cmd_publish(struct dev_ctx *ctx, int argc, char **argv);

/* subscribe [-h HOST] [-p PORT] -t FILTER [-C COUNT] [-q QOS] [-v]: print
 * one payload per line, opening envelopes with the credentials' keys. */
int dev_cmd_subscribe(struct dev_ctx *ctx, int argc, char **argv);

/* Seal data (len bytes, at most MQS_ENVELOPE_PLAIN_MAX) for topic with
 * the device key of the credentials into a new buffer *env (free with
 * free()) of *env_len bytes.  Returns a sysexits code; prints the reason. */
int dev_pub_seal(const struct dev_ctx *ctx, const char *topic, const uint8_t *data, size_t len,
                 uint8_t **env, size_t *env_len);

/* Read one line (without its newline) of at most cap bytes from in into
 * buf.  Returns the length, -1 at end of input, or -2 for a longer line
 * (consumed up to its newline). */
long dev_read_line(FILE *in, uint8_t *buf, size_t cap);

/* cmd_keys.c: online topic keys (docs/payload-encryption.md, "Online keys"). */

/* keys fetch [-h HOST] [-p PORT] [-i ID] [-W SECS] [FILTER...]: ask the
 * broker for the keys of the filters (default: those the credentials hold
 * keys for or list as protected), merge them into the credentials file;
 * print "FILTER ID,ID" per granted filter, "refused: FILTER" on stderr
 * (then exit EX_NOPERM). */
int dev_cmd_keys(struct dev_ctx *ctx, int argc, char **argv);

/* cmd_medical.c: medical records split k-of-n over channel topics
 * (docs/medical.md). */

/* publish --split T1,...,Tn --threshold K [--record-key ID|NAME]
 * [-h HOST] [-p PORT] -t TOPIC (-m MSG | -f FILE | -l) [-q QOS]: seal each
 * record with the record key for record topic TOPIC, split it into n
 * shares and publish share i on Ti (sealed when Ti is protected).
 * dev_cmd_publish hands over to it when --split is given. */
int dev_cmd_publish_split(struct dev_ctx *ctx, int argc, char **argv);

/* join [-h HOST] [-p PORT] --channels T1,...,Tn --threshold K [-C COUNT]
 * [-o DIR] [-W SECS] [--join-timeout SECS]: subscribe to the channels,
 * rebuild records with every record key of the credentials, print each
 * (or write DIR/<hex record id>, 0600) and its topic, sender and origin on
 * stderr. */
int dev_cmd_join(struct dev_ctx *ctx, int argc, char **argv);

/* conn.c: one MQTT connection with TOTP.  The struct is caller-owned;
 * dev_conn_close() frees what dev_conn_open() made (also after failure). */
struct mosquitto;
struct dev_conn {
	struct dev_ctx *ctx;
	struct mosquitto *mosq;
	const char *host;
	int port;
	char *cid;         /* the client id (owned; NULL: libmosquitto's own) */
	int64_t last_step; /* TOTP step of the last code sent */
	int connack;       /* -1 while waiting */
	int connected;
	unsigned disconnects;
	int quiet;
	void *user; /* the command's own state, for its callbacks */
};

/* Connect as the credentials' user with a fresh TOTP code (MQTT v5) and
 * wait for the CONNACK.  Returns a sysexits code; prints the reason. */
MQS_MUST_CHECK int dev_conn_open(struct dev_conn *c, struct dev_ctx *ctx, const char *host,
                                 int port, const char *client_id, int clean);

/* Reconnect with a code from a later time step, with backoff. */
MQS_MUST_CHECK int dev_conn_reconnect(struct dev_conn *c);

/* Disconnect cleanly and free the client. */
void dev_conn_close(struct dev_conn *c);

/* origin.c: print an origin safely (non-printable UTF-8 as \xNN). */

/* Write origin (len bytes, untrusted) on f. */
void dev_origin_write(FILE *f, const uint8_t *origin, size_t len);

/* Write prefix, the origin and a newline on f. */
void dev_origin_print(FILE *f, const char *prefix, const uint8_t *origin, size_t len);

/* downlink.c: the key that opens a delivered envelope. */

struct mqs_envelope_info;

/* Into out (MQS_ENVELOPE_KEY_LEN bytes, the caller wipes it): the key that
 * opens the envelope described by info on topic with k (the key of
 * info->key_id in the credentials): for a device key and an envelope the
 * broker sealed (origin set), the device's downlink key for topic
 * (docs/payload-encryption.md, "Per-device downlink"); else k's key.
 * Returns MQS_OK or MQS_ERR_CRYPTO (out wiped). */
MQS_MUST_CHECK int dev_open_key(const struct mqs_creds_key *k, const struct mqs_envelope_info *info,
                                const char *topic, uint8_t *out);

/* main.c: helpers for commands. */

/* Print "mqttsec-device: " and the formatted message and a newline on stderr. */
void dev_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print the usage line of the command name on stderr and return EX_USAGE. */
int dev_usage_cmd(const char *name);

#endif
