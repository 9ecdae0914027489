// Node's ws as a client of our servers. `node client.js URL echo` checks
// echo_server (started with --accept-protocols); `node client.js URL chat`
// checks chat_server, then waits for the server to close; `node client.js
// URL deflate` checks echo_server --deflate: the parameters it agreed, and
// echoes of text that compresses and bytes that do not. Prints "ok ..."
// per check and exits 0, or prints the failure and exits 1.
// SPDX-License-Identifier: MIT
const WebSocket = require("ws");
const assert = require("assert");

const [url, mode] = process.argv.slice(2);
setTimeout(() => fail(new Error("timed out")), 20000).unref();
// A warning (a listener leak, a deprecation) is a failure of the script.
process.on("warning", (warning) => fail(warning));

function fail(error) {
  console.log(`FAIL ${error.message}`);
  process.exit(1);
}

// The next message, as { data, isBinary }. Each listener goes with the
// other, so a run of messages leaves none behind on the socket.
function next(socket) {
  return new Promise((resolve, reject) => {
    const onMessage = (data, isBinary) => {
      socket.off("close", onClose);
      resolve({ data, isBinary });
    };
    const onClose = () => {
      socket.off("message", onMessage);
      reject(new Error("closed early"));
    };
    socket.once("message", onMessage).once("close", onClose);
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

// Text that compresses as chat does, and bytes that do not.
function chatty(n) {
  return "ann: are we still on for lunch at noon? ".repeat(n / 40 + 1).slice(0, n);
}

async function deflate() {
  const socket = new WebSocket(url); // offers permessage-deflate by default
  let agreed;
  socket.once("upgrade", (res) => {
    agreed = res.headers["sec-websocket-extensions"];
  });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  console.log(`ok extensions ${agreed}`);
  let sent = 0;
  for (const size of [0, 1023, 1024, 65536, 1 << 20]) {
    const text = chatty(size);
    socket.send(text);
    let m = await next(socket);
    assert.strictEqual(m.isBinary, false);
    assert.strictEqual(m.data.toString(), text);
    const bytes = require("crypto").randomBytes(size);
    socket.send(bytes);
    m = await next(socket);
    assert.strictEqual(m.isBinary, true);
    assert.ok(bytes.equals(m.data));
    sent += 2 * size;
  }
  console.log("ok text and binary echoes up to 1 MiB");
  // The random half cannot shrink; the text half must have.
  const read = socket._socket.bytesRead;
  assert.ok(read < sent * 0.6, `read ${read} of ${sent} bytes`);
  console.log("ok the text came compressed");
  const done = closed(socket);
  socket.close(1000);
  await done;
  console.log("ok close 1000");
}

const modes = { chat, echo, deflate };
modes[mode]().then(() => process.exit(0), fail);
