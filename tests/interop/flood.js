// Node's ws as a fast sender: `node flood.js URL SECONDS` sends numbered
// 1 KiB messages ("<n>:" and padding) as fast as the socket takes them for
// SECONDS, keeping at most 8 MiB in its own buffer (so a reader that stops
// makes Node wait, not run out of memory). Prints "buffered MAX" (the most
// bufferedAmount reached: it climbs only when TCP pushes back), then
// "sent N", then waits for the server to close.
// SPDX-License-Identifier: MIT
const WebSocket = require("ws");

const [url, seconds] = process.argv.slice(2);
const cap = 8 << 20;
const socket = new WebSocket(url);
let sent = 0;
let most = 0;
let stop = false;

function message(n) {
  const head = `${n}:`;
  return head + "x".repeat(1024 - head.length);
}

function pump() {
  if (stop) return;
  while (socket.bufferedAmount < cap) {
    socket.send(message(sent++));
    if (sent % 256 === 0) break; // let the event loop write
  }
  most = Math.max(most, socket.bufferedAmount);
  if (socket.bufferedAmount >= cap) setTimeout(pump, 5);
  else setImmediate(pump);
}

socket.on("open", () => {
  setTimeout(() => {
    stop = true;
    console.log(`buffered ${most}`);
    console.log(`sent ${sent}`);
  }, Number(seconds) * 1000);
  pump();
});
socket.on("error", (e) => console.log(`FAIL ${e.message}`));
socket.on("close", (code) => {
  console.log(`close ${code}`);
  process.exit(0);
});
