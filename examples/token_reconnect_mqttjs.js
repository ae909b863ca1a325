// SPDX-License-Identifier: BSD-3-Clause
// token_reconnect_mqttjs.js - the MQTT.js reconnect loop of
// docs/broker-plugin.md ("Connect tokens", "Other clients") as a program:
// token() and the "close" handler are the docs' code.  It connects with a
// fresh connect token, publishes "connect N" to TOPIC after each accepted
// CONNACK, replaces options.password on "close" (MQTT.js reads it on every
// reconnect), and stops after COUNT accepted connections (exit 0) or at a
// refused CONNACK (exit 1).
//
//     node token_reconnect_mqttjs.js CREDS HOST PORT TOPIC COUNT
//
// Needs the mqtt package (npm install mqtt; NODE_PATH may point at its
// node_modules).  Run by tests/integration/76-example-token-reconnect.sh
// when it is found.
"use strict";
const fs = require("fs");
const mqtt = require("mqtt");

const crypto = require("crypto");
function token(secret, user, cid) {
  const k = Buffer.from(crypto.hkdfSync("sha256", secret, Buffer.alloc(0), "mqttsec-connect-v1", 32));
  const ts = Buffer.alloc(8); ts.writeBigUInt64BE(BigInt(Date.now()));
  const nonce = crypto.randomBytes(12);
  const tag = crypto.createHmac("sha256", k)
    .update(Buffer.concat([Buffer.from("mqs1" + user + "\0" + cid + "\0"), ts, nonce]))
    .digest().subarray(0, 16);
  return "mqs1." + Buffer.concat([ts, nonce, tag]).toString("base64url");
}

// RFC 4648 base32 (the credentials file's TOTP secret)
function base32(s) {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, v = 0;
  const out = [];
  for (const ch of s.toUpperCase().replace(/=+$/, "")) {
    v = (v << 5) | abc.indexOf(ch);
    bits += 5;
    if (bits >= 8) { out.push((v >>> (bits - 8)) & 255); bits -= 8; }
  }
  return Buffer.from(out);
}

const [creds, host, port, topic, count] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(creds, "utf8"));
const SECRET = base32(c.totp.secret), USER = c.username, CID = USER + "-mqttjs";
const URL = "mqtt://" + host + ":" + port;
let connects = 0;

const client = mqtt.connect(URL, { clientId: CID, username: USER, password: token(SECRET, USER, CID) });
client.on("close", () => { client.options.password = token(SECRET, USER, CID); });
client.on("connect", () => {
  connects++;
  console.log("connected " + connects);
  client.publish(topic, "connect " + connects, { qos: 1 }, () => {
    if (connects >= Number(count)) client.end(false, () => process.exit(0));
  });
});
client.on("error", (e) => { console.log("refused: " + e.message); client.end(true, () => process.exit(1)); });
