// The same client with no WebSocket at all: on Node 20 (no global WebSocket) phoenix.js falls
// back to its LongPoll transport by itself, and the service speaks it.
//   node longpoll.cjs <socket url, e.g. ws://localhost:4004/socket> <system ids> [kills to print]
// Needs `npm install phoenix`.
"use strict";
const { Socket, LongPoll } = require("phoenix");

const [url, systems, limit] = process.argv.slice(2);
let left = Number(limit || Infinity);

// A Node with a global WebSocket would use it; ask for LongPoll there to see it work.
const options = typeof WebSocket === "undefined" ? {} : { transport: LongPoll };
const socket = new Socket(url, { ...options, params: { client_identifier: "example-longpoll" } });
socket.connect();
const channel = socket.channel("killmails:lobby", {
  systems: systems.split(",").map(Number),
  preload: { enabled: false },
});
channel.on("killmail_update", ({ killmails }) => {
  for (const kill of killmails) {
    console.log(`kill ${kill.killmail_id} in ${kill.solar_system_name} (${socket.transport === LongPoll ? "longpoll" : "websocket"})`);
    if (--left <= 0) process.exit(0);
  }
});
channel.join()
  .receive("ok", (reply) => console.log(`joined ${reply.subscribed_systems.join(",")}`))
  .receive("error", (reply) => { console.error("join refused", reply); process.exit(1); });
