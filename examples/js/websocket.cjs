// Follow kills in some systems with the official Phoenix client over WebSocket.
//   node websocket.cjs <socket url, e.g. ws://localhost:4004/socket> <system ids, comma separated> [kills to print]
// Needs `npm install phoenix ws` (Node has no WebSocket client of its own before Node 22).
"use strict";
const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [url, systems, limit] = process.argv.slice(2);
let left = Number(limit || Infinity);

const socket = new Socket(url, { transport: WebSocket, params: { client_identifier: "example-js" } });
socket.connect();
const channel = socket.channel("killmails:lobby", {
  systems: systems.split(",").map(Number),
  preload: { enabled: false },
});
channel.on("killmail_update", ({ killmails }) => {
  for (const kill of killmails) {
    const v = kill.victim;
    console.log(`kill ${kill.killmail_id}: ${v.character_name || "?"} lost a ${v.ship_name || "ship"} in ${kill.solar_system_name}`);
    if (--left <= 0) socket.disconnect(() => process.exit(0));
  }
});
channel.join()
  .receive("ok", (reply) => console.log(`joined ${reply.subscribed_systems.join(",")}`))
  .receive("error", (reply) => { console.error("join refused", reply); process.exit(1); });
