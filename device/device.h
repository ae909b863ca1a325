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
 * -q -i -C -W --seal --no-seal, and the TLS options --cafile --capath --cert
 * --key --tls-version --insecure with mosquitto_pub's names and meanings);
 * each command parses its own with getopt_long, lists DEV_NET_TLS_LONG_OPTS
 * in its table, hands every option to dev_net_opt() first and calls
 * dev_net_opts_check() once all are parsed. */
enum {
	DEV_OPT_SEAL = 1000,
	DEV_OPT_NO_SEAL,
	DEV_OPT_CAFILE,
	DEV_OPT_CAPATH,
	DEV_OPT_CERT,
	DEV_OPT_KEY,
	DEV_OPT_TLS_VERSION,
	DEV_OPT_INSECURE,
	DEV_OPT__NEXT
};

/* The TLS entries of a struct option table (needs <getopt.h>). */
#define DEV_NET_TLS_LONG_OPTS                                                                      \
	{"cafile", required_argument, NULL, DEV_OPT_CAFILE},                                       \
	    {"capath", required_argument, NULL, DEV_OPT_CAPATH},                                   \
	    {"cert", required_argument, NULL, DEV_OPT_CERT},                                       \
	    {"key", required_argument, NULL, DEV_OPT_KEY},                                         \
	    {"tls-version", required_argument, NULL, DEV_OPT_TLS_VERSION},                         \
	{                                                                                          \
		"insecure", no_argument, NULL, DEV_OPT_INSECURE                                    \
	}

/* Default ports: plain MQTT, and MQTT over TLS (when a CA is given). */
#define DEV_PORT_MQTT  1883
#define DEV_PORT_MQTTS 8883

struct dev_net_opts {
	const char *host; /* -h, default 127.0.0.1 */
	int port;         /* -p, default 1883 (8883 with --cafile or --capath) */
	int port_given;   /* 1 when -p was given */
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
	/* TLS (all borrowed from argv; TLS is on when cafile or capath is set) */
	const char *cafile;      /* --cafile: CA certificates (PEM) to verify the broker */
	const char *capath;      /* --capath: a c_rehash'd folder of CA certificates */
	const char *cert;        /* --cert: client certificate (PEM), with --key */
	const char *key;         /* --key: its private key (PEM), with --cert */
	const char *tls_version; /* --tls-version: "tlsv1.2" or "tlsv1.3", NULL: both */
	int insecure;            /* --insecure: do not check the broker's host name */
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

/* Check the combination of the parsed options and finish the defaults (the
 * port is 8883 when a CA is given without -p); warns on stderr for
 * --insecure.  Returns EX_OK, EX_USAGE for a bad combination (--cert
 * without --key or the reverse, a TLS option without --cafile/--capath) or
 * EX_NOINPUT for a TLS file that cannot be read; prints the reason. */
int dev_net_opts_check(struct dev_net_opts *o);

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
	int tls;           /* 1 when connected over TLS */
	char tls_err[160]; /* first TLS error libmosquitto logged in this attempt */
	char *cid;         /* the client id (owned; NULL: libmosquitto's own) */
	int64_t last_step; /* TOTP step of the last code sent */
	int connack;       /* -1 while waiting */
	int connected;
	unsigned disconnects;
	int quiet;
	void *user; /* the command's own state, for its callbacks */
};

/* Connect to net's host and port (over TLS when net has a CA, checked
 * with dev_net_opts_check()) as the credentials' user with a fresh TOTP code
 * (MQTT v5), client id net->client_id, and wait for the CONNACK.  net is
 * borrowed and must outlive c.  Returns a sysexits code (EX_UNAVAILABLE for
 * an unreachable broker or a failed TLS handshake, EX_NOPERM when refused);
 * prints the reason. */
MQS_MUST_CHECK int dev_conn_open(struct dev_conn *c, struct dev_ctx *ctx,
                                 const struct dev_net_opts *net, int clean);

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
