// Node's ws as a client of our servers. `node client.js URL echo` checks
// echo_server (started with --accept-protocols); `node client.js URL chat`
// checks chat_server, then waits for the server to close. Prints "ok ..."
// per check and exits 0, or prints the failure and exits 1.
// SPDX-License-Identifier: MIT
const WebSocket = require("ws");
const assert = require("assert");

const [url, mode] = process.argv.slice(2);
setTimeout(() => fail(new Error("timed out")), 20000).unref();

function fail(error) {
  console.log(`FAIL ${error.message}`);
  process.exit(1);
}

// The next message, as { data, isBinary }.
function next(socket) {
  return new Promise((resolve, reject) => {
    socket.once("message", (data, isBinary) => resolve({ data, isBinary }));
    socket.once("close", () => reject(new Error("closed early")));
  });
}

function closed(socket) {
  return new Promise((resolve) =>
    socket.once("close", (code, reason) =>
      resolve({ code, reason: reason.toString() })));
}

async function echo() {
  const socket = new WebSocket(url, ["chat.v2", "chat.v1"]);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  assert.strictEqual(socket.protocol, "chat.v2");
  console.log("ok subprotocol");
  for (const size of [0, 125, 126, 65536, 1 << 20]) {
    const text = "t".repeat(size);
    socket.send(text);
    let m = await next(socket);
    assert.strictEqual(m.isBinary, false);
    assert.strictEqual(m.data.toString(), text);
    const bytes = Buffer.alloc(size, 0xa5);
    socket.send(bytes);
    m = await next(socket);
    assert.strictEqual(m.isBinary, true);
    assert.ok(bytes.equals(m.data));
  }
  console.log("ok text and binary echoes up to 1 MiB");
  const done = closed(socket);
  socket.close(4000, "node says bye");
  const c = await done;
  assert.strictEqual(c.code, 4000);
  assert.strictEqual(c.reason, "node says bye");
  console.log("ok close 4000 echoed");
}

async function chat() {
  const socket = new WebSocket(url);
  const greeting = await next(socket);
  assert.strictEqual(greeting.data.toString(), "Welcome to the chat room.");
  console.log("ok greeting");
  socket.send("node: hello");
  const echoed = await next(socket);
  assert.strictEqual(echoed.data.toString(), "node: hello");
  console.log("ok broadcast");
  console.log("ready"); // the test now stops the server
  const c = await closed(socket);
  assert.strictEqual(c.code, 1001);
  console.log("ok close 1001 from the server");
}

(mode === "chat" ? chat() : echo()).then(() => process.exit(0), fail);
