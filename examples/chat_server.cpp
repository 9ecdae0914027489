// chat_server: serves the chat page at "/", 404 elsewhere, greets each socket
// and relays every message to everyone. Each statement is preceded by its
// twin in Node (with the `ws` package), so the two read side by side.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#ifdef WS_CHAT_REDIS
#include "redis_bus.hpp"
#endif

// C++ only: finds the page beside the program (build tree) or under examples/
// (source tree) unless --page names it, and reads it.
static std::string read_page(std::string page) {
  if (page.empty()) {
    char self[4096] = {};
    if (readlink("/proc/self/exe", self, sizeof self - 1) > 0) {
      std::string path(self);
      page = path.substr(0, path.rfind('/')) + "/wschatclient.html";
    }
    if (!std::ifstream(page))
      page = "examples/wschatclient.html";
    if (!std::ifstream(page))
      page = WS_CHAT_PAGE; // the source tree's copy, known at build time
  }
  std::ifstream file(page);
  if (!file)
    throw std::runtime_error("cannot read the chat page " + page);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

static const char usage[] =
    "usage: chat_server [--port N] [--host H] [--page FILE]\n"
    "                   [--cert FILE --key FILE]\n"
    "Serves the chat page at / and relays every chat message to everyone.\n"
    "  --port N     port to listen on, 0-65535 (default 8000)\n"
    "  --host H     address to listen on (default 0.0.0.0)\n"
    "  --page FILE  the page to serve (default: wschatclient.html, found)\n"
    "  --cert FILE  serve https:// and wss:// with this PEM certificate\n"
    "               (and its chain after it)\n"
    "  --key FILE   the certificate's PEM private key\n"
    "  --redis redis://HOST:PORT[/CHANNEL]\n"
    "               share messages with other chat_server instances through\n"
    "               this Redis channel (default channel: chat)\n";

int main(int argc, char **argv) {
  // C++ only: the flags.
  std::string port = "8000", host = "0.0.0.0", page_file, cert, key, redis;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      return 0;
    }
    std::string *value = flag == "--port"    ? &port
                         : flag == "--host"  ? &host
                         : flag == "--page"  ? &page_file
                         : flag == "--cert"  ? &cert
                         : flag == "--key"   ? &key
                         : flag == "--redis" ? &redis
                                             : nullptr;
    if (!value || i + 1 == argc) {
      std::cerr << "chat_server: unknown or incomplete option '" << flag
                << "' (see --help)\n";
      return 2;
    }
    *value = argv[++i];
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    std::cerr << "chat_server: --port wants a number 0-65535, not '" << port
              << "'\n";
    return 2;
  }

#ifndef WS_CHAT_REDIS
  if (!redis.empty()) {
    std::cerr << "chat_server: --redis: this chat_server was built without "
                 "hiredis (install libhiredis-dev and rebuild)\n";
    return 2;
  }
#endif

  try {
    // const page = fs.readFileSync("wschatclient.html");
    const std::string page = read_page(page_file);
    // const server = cert ? https.createServer({ cert, key })
    //                     : http.createServer();
    ws::ServerOptions options;
    options.certFile = cert;
    options.keyFile = key;
    // const wss = new WebSocketServer({ server });
    ws::Server server(options);
    // server.on("request", (req, res) => {
    server.onrequest = [&](const ws::Request &req, ws::Response &res) {
      // if (req.url === "/") {
      if (req.path == "/") {
        // res.setHeader("Content-Type", "text/html; charset=utf-8");
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        // res.end(page);
        res.body = page;
      } else {
        // res.statusCode = 404;
        res.status = 404;
        // res.end("Not found");
        res.body = "Not found";
      }
    };
#ifdef WS_CHAT_REDIS
    // const bus = redis ? new RedisBus(redis) : null;
    std::unique_ptr<chat::RedisBus> bus;
    if (!redis.empty())
      bus = std::make_unique<chat::RedisBus>(redis);
    // bus?.on("message", (data) => {
    if (bus)
      bus->onmessage = [&](const std::string &data) {
        // for (const client of wss.clients) client.send(data);
        server.broadcast(data);
      };
#endif
    // wss.on("connection", (socket) => {
    server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
      // socket.send("Welcome to the chat room.");
      socket.send("Welcome to the chat room.");
      // socket.onmessage = (event) => {
      socket.onmessage = [&](const ws::MessageEvent &event) {
        // for (const client of wss.clients) client.send(event.data);
        server.broadcast(event.data);
#ifdef WS_CHAT_REDIS
        // bus?.publish(event.data);
        if (bus)
          bus->publish(event.data);
#endif
      };
    };
    // process.once("SIGINT", () => { closeEverySocket(1001); wss.close(); });
    ws::onSignal({SIGINT, SIGTERM}, [&](int) {
      server.close();
#ifdef WS_CHAT_REDIS
      // bus?.close();
      if (bus)
        bus->close();
#endif
    });
    // server.listen(8000, "0.0.0.0");
    server.listen(static_cast<std::uint16_t>(std::stoi(port)), host);
    // console.log(`chat_server listening on ${scheme}://${host}:${port}/`);
    std::cout << "chat_server listening on "
              << (server.secure() ? "https" : "http") << "://" << host << ":"
              << server.port() << "/" << std::endl;
    // C++ only: Node runs its event loop by itself.
    ws::run();
  } catch (const std::exception &e) {
    std::cerr << "chat_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
