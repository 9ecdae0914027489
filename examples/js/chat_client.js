// chat_client.js: the chat page as a console program, in Node. The twin of
// chat_client.cpp: the same flags, output, statement order, names and
// strings; each statement there follows this file's line after "JS:". The
// page's own lines (wschatclient.html) are shown after "Page:". Needs the
// `ws` package (npm install, in this folder); --reconnect is the C++ option
// written by hand (reconnecting_websocket.js: Node's ws has none).
// SPDX-License-Identifier: MIT
const fs = require("fs");
const readline = require("readline");
// One Node ws WebSocket, or with options.reconnect, one that reconnects.
const WebSocket = require("./reconnecting_websocket");

const usage =
  "usage: chat_client [ws://host:port/] [--nick NAME] [--ca FILE] " +
  "[--reconnect]\n" +
  "                   [--ping MS] [--deflate | --no-deflate]\n" +
  "Chats through a chat_server (default ws://localhost:8000/): each line\n" +
  "typed is sent as 'NAME: line' and each message received is printed.\n" +
  "End the input (Ctrl-D) to leave. Without --nick it asks for one.\n" +
  "  --ca FILE      for wss://, also trust the CA certificates in this PEM " +
  "file\n" +
  "  --reconnect    when the connection drops, connect again (waiting 1 s,\n" +
  "                 2 s, ... up to 30 s) and go on chatting\n" +
  "  --ping MS      ping every MS ms: a link that answers nothing for that\n" +
  "                 long is dead (default: none, or 30000 with --reconnect)\n" +
  "  --deflate, --no-deflate\n" +
  "                 offer compression (permessage-deflate), as a browser\n" +
  "                 does, or not (default: offer)\n";

async function main(argv) {
  // JS only: the flags, read as chat_client.cpp reads them.
  let url = "ws://localhost:8000/";
  let nick;
  const options = {};
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(usage);
      return 0;
    } else if (arg === "--nick" && i + 1 < argv.length) {
      nick = argv[++i];
    } else if (arg === "--ca" && i + 1 < argv.length) {
      options.ca = fs.readFileSync(argv[++i]);
    } else if (arg === "--reconnect") {
      options.reconnect = { enabled: true };
    } else if (arg === "--ping" && /^[0-9]{1,8}$/.test(argv[i + 1] || "")) {
      options.pingInterval = Number(argv[++i]);
    } else if (arg === "--deflate" || arg === "--no-deflate") {
      options.perMessageDeflate = arg === "--deflate";
    } else if (!arg.startsWith("-")) {
      url = arg;
    } else {
      process.stderr.write(
        `chat_client: unknown or incomplete option '${arg}' (see --help)\n`);
      return 2;
    }
  }

  const lines = readline.createInterface({ input: process.stdin });
  // Page: const nick = prompt("Enter your nickname");
  if (nick === undefined) {
    process.stderr.write("Enter your nickname: ");
  }
  let socket;
  try {
    // Page: const socket = new WebSocket(scheme + location.host + "/");
    socket = new WebSocket(url, [], options);
  } catch (e) {
    process.stderr.write(`chat_client: ${e.message}\n`);
    return 2;
  }
  // The terminal waits until the socket is open (send() would throw).
  lines.pause();
  // Page: socket.onmessage = (event) => {
  socket.onmessage = (event) => {
    // Page: line.textContent = event.data; input.before(line);
    console.log(String(event.data));
  };
  socket.onopen = () => {
    lines.resume();
  };
  socket.onreconnecting = (event) => {
    lines.pause();
    console.error(`chat_client: reconnecting in ${event.delay} ms`);
  };
  // Page: input.onchange = () => {
  lines.on("line", (line) => {
    if (nick === undefined) {
      nick = line;
      return;
    }
    // Page: socket.send(nick + ": " + input.value);
    socket.send(nick + ": " + line);
  });
  lines.on("close", () => {
    socket.close(1000);
  });
  socket.onerror = (event) => {
    process.stderr.write(`chat_client: ${event.message}\n`);
  };
  return new Promise((resolve) => {
    socket.onclose = (event) => {
      lines.close();
      // Why the chat ended, unless we ended it (1000, cleanly).
      if (!event.wasClean || event.code !== 1000) {
        const { code, reason } = event;
        console.error(`chat_client: disconnected (code: ${code}, ` +
          `reason: "${reason}")`);
      }
      resolve(event.wasClean ? 0 : 1);
    };
  });
}

main(process.argv.slice(2)).then((status) => process.exit(status));
