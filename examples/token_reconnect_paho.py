#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""token_reconnect_paho.py - the Paho (Python) reconnect loop of
docs/broker-plugin.md ("Connect tokens", "Other clients") as a program:
token() and the callbacks are the docs' code.  It connects with a fresh
connect token, publishes "connect N" to TOPIC after each accepted CONNACK,
sets a fresh token in on_disconnect (paho's reconnect resends the stored
password), and stops after COUNT accepted connections (exit 0) or at a
refused CONNACK (exit 1).

    token_reconnect_paho.py CREDS HOST PORT TOPIC COUNT

Run by tests/integration/76-example-token-reconnect.sh (paho-mqtt 1.6)."""
import base64, hashlib, hmac, json, os, struct, sys, time

import paho.mqtt.client as mqtt


def token(secret: bytes, user: str, cid: str) -> str:
    prk = hmac.new(b"\0" * 32, secret, hashlib.sha256).digest()          # HKDF extract, salt ""
    k = hmac.new(prk, b"mqttsec-connect-v1\x01", hashlib.sha256).digest() # HKDF expand, 32 bytes
    ts, nonce = struct.pack(">Q", int(time.time() * 1000)), os.urandom(12)
    tag = hmac.new(k, b"mqs1" + user.encode() + b"\0" + cid.encode() + b"\0" + ts + nonce,
                   hashlib.sha256).digest()[:16]
    return "mqs1." + base64.urlsafe_b64encode(ts + nonce + tag).decode()  # 48 chars, no padding


def main():
    creds, host, port, topic, count = sys.argv[1:6]
    c = json.load(open(creds))
    b32 = c["totp"]["secret"].upper()
    SECRET = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    USER = c["username"]
    CLIENT_ID = USER + "-paho"
    state = {"connects": 0, "refused": False}

    def on_connect(client, userdata, flags, rc):
        if rc != 0:
            print("refused:", mqtt.connack_string(rc), flush=True)
            state["refused"] = True
            client.disconnect()
            return
        state["connects"] += 1
        print("connected", state["connects"], flush=True)
        client.publish(topic, "connect %d" % state["connects"], qos=1)
        if state["connects"] >= int(count):
            client.disconnect()

    def on_disconnect(client, userdata, *args):
        client.username_pw_set(USER, token(SECRET, USER, CLIENT_ID))

    client = mqtt.Client(client_id=CLIENT_ID)       # see paho's docs for your version
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.username_pw_set(USER, token(SECRET, USER, CLIENT_ID))
    client.connect(host, int(port))
    client.loop_forever()                           # reconnects with the token set in on_disconnect
    sys.exit(1 if state["refused"] else 0)


if __name__ == "__main__":
    main()
