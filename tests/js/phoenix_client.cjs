// The official Phoenix JavaScript client on Node, driven line by line by tests/api/phoenix_js.rs:
// over WebSocket (the `ws` package), or, with `longpoll`, with no WebSocket at all, as the README
// snippet runs on Node 20: phoenix.js then falls back to its LongPoll transport.
//
//   node phoenix_client.cjs <socket endpoint> <join params as JSON> [ws|longpoll]
//
// Writes one JSON object per line to stdout: {"type":"joined"|"join_error"|"event"|"reply"|
// "left"|"socket_error"|"socket_close", ...}. Reads one command per line from stdin:
// {"push": "<event>", "payload": {...}} or {"leave": true}.
"use strict";

const { Socket, LongPoll } = require("phoenix");
const readline = require("readline");

const [endpoint, joinParams, transport = "ws"] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const options = {
  params: { client_identifier: "phoenix_js_test" },
  reconnectAfterMs: () => 60_000,
};
if (transport === "ws") {
  options.transport = require("ws");
} else if (typeof WebSocket !== "undefined") {
  // A Node with a global WebSocket would use it; this run is about the fallback.
  options.transport = LongPoll;
}
const socket = new Socket(endpoint, options);
say({ type: "transport", longpoll: socket.transport === LongPoll });
socket.onError((error) => say({ type: "socket_error", message: String(error && error.message) }));
socket.onClose((event) => say({ type: "socket_close", code: event && event.code }));
socket.connect();

const channel = socket.channel("killmails:lobby", JSON.parse(joinParams));
for (const event of ["killmail_update", "kill_count_update", "preload_complete"]) {
  channel.on(event, (payload) => say({ type: "event", event, payload }));
}
channel
  .join()
  .receive("ok", (response) => say({ type: "joined", response }))
  .receive("error", (response) => say({ type: "join_error", response }))
  .receive("timeout", () => say({ type: "join_error", response: "timeout" }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.leave) {
    channel.leave().receive("ok", () => {
      say({ type: "left" });
      socket.disconnect(() => process.exit(0));
    });
    return;
  }
  channel
    .push(command.push, command.payload)
    .receive("ok", (response) => say({ type: "reply", event: command.push, status: "ok", response }))
    .receive("error", (response) => say({ type: "reply", event: command.push, status: "error", response }))
    .receive("timeout", () => say({ type: "reply", event: command.push, status: "timeout" }));
});
