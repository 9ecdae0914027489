// Node's ws as the benchmark's slow reader: `node slow_reader.js MS` takes
// one message every MS ms with ws 8's socket.pause() and socket.resume()
// (so TCP pushes back); with --unpaused it takes every message as it comes
// into an array and drops one every MS ms (no backpressure, as most Node
// programs read). Prints its port.
// SPDX-License-Identifier: MIT
const { WebSocketServer } = require("ws");

const [ms, mode] = process.argv.slice(2);
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
wss.on("listening", () =>
  console.log(`slow_reader listening on ${wss.address().port}`));
wss.on("connection", (socket) => {
  if (mode === "--unpaused") {
    const queue = [];
    socket.on("message", (data) => queue.push(data));
    const timer = setInterval(() => queue.shift(), Number(ms));
    socket.on("close", () => clearInterval(timer));
    return;
  }
  socket.on("message", () => socket.pause());
  const tick = () => {
    if (socket.readyState !== socket.OPEN) return;
    socket.resume(); // one message, then "message" pauses it again
    setTimeout(tick, Number(ms));
  };
  socket.pause();
  tick();
});
