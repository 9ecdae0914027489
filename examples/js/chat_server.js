// chat_server.js: serves the chat page at "/" (and "/?room=NAME"), 404
// elsewhere, greets each socket and relays every message to everyone in its
// room. The twin of chat_server.cpp:
// the same flags, output, statement order, names and strings; each statement
// there follows this file's line after "JS:". Needs the `ws` package
// (npm install, in this folder).
// SPDX-License-Identifier: MIT
const fs = require("fs");
const http = require("http");
const https = require("https");
const path = require("path");
const { WebSocketServer } = require("ws");

// JS only: finds the page beside this folder (../wschatclient.html) unless
// --page names it, and reads it.
function readPage(page) {
  if (!page) page = path.join(__dirname, "..", "wschatclient.html");
  try {
    return fs.readFileSync(page);
  } catch {
    throw new Error("cannot read the chat page " + page);
  }
}

// JS only: the room a socket asked for, "" (the room of "/") if none.
function roomOf(url) {
  return new URLSearchParams(url.split("?")[1]).get("room") ?? "";
}

// JS only: what ws::WebSocket::subscribe and ws::Server::publish do. Node's
// ws has no topics (Bun's and ws::Server's), so each room's sockets are kept
// by hand, and a socket leaves its room when it closes.
const rooms = new Map(); // room -> its sockets
function subscribe(socket, room) {
  if (!rooms.has(room)) rooms.set(room, new Set());
  rooms.get(room).add(socket);
  socket.on("close", () => {
    rooms.get(room).delete(socket);
    if (rooms.get(room).size === 0) rooms.delete(room);
  });
}
function publish(room, data) {
  for (const client of rooms.get(room) ?? []) client.send(data);
}

const usage =
  "usage: chat_server [--port N] [--host H] [--page FILE]\n" +
  "                   [--cert FILE --key FILE] [--origin LIST] [--deflate]\n" +
  "                   [--ping MS]\n" +
  "Serves the chat page at / and relays every chat message to everyone\n" +
  "in its room: the page at /?room=NAME chats in room NAME.\n" +
  "  --port N     port to listen on, 0-65535 (default 8000)\n" +
  "  --host H     address to listen on (default: every address, IPv6\n" +
  "               and IPv4)\n" +
  "  --page FILE  the page to serve (default: wschatclient.html, found)\n" +
  "  --cert FILE  serve https:// and wss:// with this PEM certificate\n" +
  "               (and its chain after it)\n" +
  "  --key FILE   the certificate's PEM private key\n" +
  "  --origin LIST  accept sockets only from pages of these origins\n" +
  "               (comma-separated, e.g. https://chat.example.com);\n" +
  "               others get 403 (default: any)\n" +
  "  --deflate    compress messages (permessage-deflate) for clients\n" +
  "               that offer it, as every browser does\n" +
  "  --ping MS    ping every socket every MS ms and drop one that answers\n" +
  "               nothing for that long (default: no heartbeat)\n";

function main(argv) {
  // JS only: the flags, read as chat_server.cpp reads them (its --redis is
  // C++ only).
  const flags = {
    port: "8000", host: "", page: "", cert: "", key: "", origin: "",
    ping: "", deflate: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (flag === "--help" || flag === "-h") {
      process.stdout.write(usage);
      return 0;
    }
    if (flag === "--deflate") {
      flags.deflate = true;
      continue;
    }
    const name = flag.slice(2);
    if (!flag.startsWith("--") || !(name in flags) || i + 1 === argv.length) {
      process.stderr.write(
        `chat_server: unknown or incomplete option '${flag}' (see --help)\n`);
      return 2;
    }
    flags[name] = argv[++i];
  }
  const { port, host, cert, key } = flags;
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
    process.stderr.write(
      `chat_server: --port wants a number 0-65535, not '${port}'\n`);
    return 2;
  }
  if (flags.ping && !/^[0-9]{1,8}$/.test(flags.ping)) {
    process.stderr.write(
      `chat_server: --ping wants milliseconds, not '${flags.ping}'\n`);
    return 2;
  }

  try {
    const page = readPage(flags.page);
    // JS only: Node takes the PEM texts; ws::ServerOptions the file names.
    const tls = cert && { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
    const server = tls ? https.createServer(tls) : http.createServer();
    const origins = flags.origin ? flags.origin.split(",") : [];
    // JS only: ws::ServerOptions::allowedOrigins checks this way: without
    // regard to case, and a request without Origin (not from a page) passes.
    const verifyClient = ({ origin }, done) =>
      done(!origins.length || !origin ||
        origins.some((o) => o.toLowerCase() === origin.toLowerCase()), 403);
    const deflate = flags.deflate && { serverNoContextTakeover: true };
    const heartbeat = Number(flags.ping) || 0;
    const wss = new WebSocketServer({ server, verifyClient,
      perMessageDeflate: deflate });
    // JS only: what ws::ServerOptions::pingInterval does, written as Node's
    // ws README shows: a socket that answered nothing since the last ping
    // is dropped.
    if (heartbeat) {
      const beat = setInterval(() => {
        for (const client of wss.clients) {
          if (!client.alive) {
            client.terminate();
            continue;
          }
          client.alive = false;
          client.ping();
        }
      }, heartbeat);
      wss.on("close", () => clearInterval(beat));
      wss.on("connection", (socket) => {
        socket.alive = true;
        socket.on("pong", () => { socket.alive = true; });
        socket.on("message", () => { socket.alive = true; });
      });
    }
    server.on("request", (req, res) => {
      if (req.url.split("?")[0] === "/") {
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        res.end(page);
      } else {
        res.statusCode = 404;
        res.end("Not found");
      }
    });
    wss.on("connection", (socket, req) => {
      const room = roomOf(req.url);
      subscribe(socket, room);
      socket.send("Welcome to the chat room.");
      socket.onmessage = (event) => {
        publish(room, event.data);
      };
    });
    // JS only: what ws::Server::close() does: every socket closes with 1001.
    const stop = () => {
      for (const client of wss.clients) client.close(1001);
      wss.close();
      server.close();
    };
    process.once("SIGINT", stop).once("SIGTERM", stop);
    // No host: every address, IPv6 and IPv4 (Node's own default).
    server.listen(Number(port), host || undefined, () => {
      // JS only: the port actually bound (port 0 picks one).
      const name = !host ? "localhost" : host.includes(":") ? `[${host}]` : host;
      const url = `${tls ? "https" : "http"}://${name}:${server.address().port}/`;
      console.log("chat_server listening on " + url);
    });
    // JS only: a port in use arrives as an event; C++ listen() throws.
    server.on("error", (e) => {
      process.stderr.write(`chat_server: ${e.message}\n`);
      process.exit(1);
    });
  } catch (e) {
    process.stderr.write(`chat_server: ${e.message}\n`);
    return 1;
  }
  return undefined; // JS only: Node runs its event loop by itself
}

const status = main(process.argv.slice(2));
if (status !== undefined) process.exitCode = status;
