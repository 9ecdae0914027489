// chat_server: serves the chat page at "/" (and "/?room=NAME"), 404
// elsewhere, greets each socket and relays every message to everyone in its
// room. Each statement is preceded by its
// twin in Node (examples/js/chat_server.js, with the `ws` package) after
// "JS:", in the same order, so the two read side by side.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/resource.h>
#include <unistd.h>
#endif

#ifdef WS_CHAT_REDIS
#include <ws/redis.hpp>
#endif

// C++ only: finds the page beside the program (build tree) or under examples/
// (source tree) unless --page names it, and reads it.
static std::string read_page(std::string page) {
  if (page.empty()) {
    char self[4096] = {};
#ifdef _WIN32
    const char sep = '\\';
    const bool found = GetModuleFileNameA(nullptr, self, sizeof self - 1) > 0;
#else
    const char sep = '/';
    const bool found = readlink("/proc/self/exe", self, sizeof self - 1) > 0;
#endif
    if (found) {
      std::string path(self);
      page = path.substr(0, path.rfind(sep) + 1) + "wschatclient.html";
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

// C++ only: "a,b" -> {"a", "b"}; "" -> {} (JS: String.split).
static std::vector<std::string> split(const std::string &list, char sep) {
  std::vector<std::string> parts;
  for (std::size_t at = 0; !list.empty() && at <= list.size();) {
    const std::size_t end = std::min(list.find(sep, at), list.size());
    parts.push_back(list.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

// C++ only: the room a socket asked for, "" (the room of "/") if none: the
// query's "room", percent-decoded (JS: URLSearchParams.get).
static std::string room_of(const std::string &query) {
  for (const std::string &pair : split(query, '&')) {
    const std::size_t eq = std::min(pair.find('='), pair.size());
    if (pair.compare(0, eq, "room") != 0)
      continue;
    std::string room;
    for (std::size_t i = eq + 1; i < pair.size(); ++i) {
      const std::string hex = pair.substr(i + 1, 2);
      if (pair[i] == '%' && hex.size() == 2 &&
          hex.find_first_not_of("0123456789abcdefABCDEF") ==
              std::string::npos) {
        room += static_cast<char>(std::stoi(hex, nullptr, 16));
        i += 2;
      } else {
        room += pair[i] == '+' ? ' ' : pair[i];
      }
    }
    return room;
  }
  return "";
}

#ifdef WS_CHAT_REDIS
// C++ only: --redis redis://HOST:PORT[/PREFIX]: a bus whose state is shown
// as the other lines are.
static std::shared_ptr<ws::RedisBus> redis_bus(const std::string &flag) {
  const std::size_t slash = flag.find('/', flag.find("//") + 2);
  const std::string url = flag.substr(0, slash);
  const std::string prefix =
      slash == std::string::npos ? "chat" : flag.substr(slash + 1);
  auto bus = std::make_shared<ws::RedisBus>(url, prefix + ":");
  bus->onready = [flag] {
    std::cout << "chat_server sharing through " << flag << std::endl;
  };
  bus->onerror = [flag](const std::string &why) {
    std::cerr << "chat_server: redis " << flag << ": " << why
              << "; serving local sockets only, reconnecting" << std::endl;
  };
  return bus;
}
#endif

// C++ only: the host as a URL names it: every address (no --host) is
// reached as localhost, and an IPv6 address goes in brackets.
static std::string url_host(const std::string &host) {
  if (host.empty())
    return "localhost";
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

static const char usage[] =
    "usage: chat_server [--port N] [--host H] [--page FILE]\n"
    "                   [--cert FILE --key FILE] [--origin LIST]\n"
    "                   [--redis redis://HOST:PORT[/PREFIX]] [--deflate]\n"
    "                   [--ping MS] [--version]\n"
    "Serves the chat page at / and relays every chat message to everyone\n"
    "in its room: the page at /?room=NAME chats in room NAME.\n"
    "  --port N     port to listen on, 0-65535 (default 8000)\n"
    "  --host H     address to listen on (default: every address, IPv6\n"
    "               and IPv4)\n"
    "  --page FILE  the page to serve (default: wschatclient.html, found)\n"
    "  --cert FILE  serve https:// and wss:// with this PEM certificate\n"
    "               (and its chain after it)\n"
    "  --key FILE   the certificate's PEM private key\n"
    "  --origin LIST  accept sockets only from pages of these origins\n"
    "               (comma-separated, e.g. https://chat.example.com);\n"
    "               others get 403 (default: any)\n"
    "  --redis redis://HOST:PORT[/PREFIX]\n"
    "               share the rooms with other chat_server instances through\n"
    "               Redis: room NAME is channel PREFIX:NAME (default prefix:\n"
    "               chat)\n"
    "  --deflate    compress messages (permessage-deflate) for clients\n"
    "               that offer it, as every browser does\n"
    "  --ping MS    ping every socket every MS ms and drop one that answers\n"
    "               nothing for that long (default: no heartbeat)\n"
    "  --version    print the version and exit\n"
    "Exits 2 on a usage error, 1 when it cannot serve (e.g. the port is "
    "taken).\n";

int main(int argc, char **argv) {
  // C++ only: the flags.
  std::string port = "8000", host, page_file, cert, key, origin, redis, ping;
  bool deflate = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      return 0;
    } else if (flag == "--version") {
      std::cout << "chat_server " << ws::version << "\n";
      return 0;
    } else if (flag == "--deflate") {
      deflate = true;
      continue;
    }
    std::string *value = flag == "--port"     ? &port
                         : flag == "--host"   ? &host
                         : flag == "--page"   ? &page_file
                         : flag == "--cert"   ? &cert
                         : flag == "--key"    ? &key
                         : flag == "--origin" ? &origin
                         : flag == "--redis"  ? &redis
                         : flag == "--ping"   ? &ping
                                              : nullptr;
    if (!value || i + 1 == argc) {
      std::cerr << "chat_server: unknown or incomplete option '" << flag
                << "' (see --help)\n";
      return 2;
    }
    *value = argv[++i];
  }
  if (cert.empty() != key.empty()) {
    std::cerr << "chat_server: --cert and --key go together\n";
    return 2;
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    std::cerr << "chat_server: --port wants a number 0-65535, not '" << port
              << "'\n";
    return 2;
  }
  if (!ping.empty() &&
      (ping.size() > 8 ||
       ping.find_first_not_of("0123456789") != std::string::npos)) {
    std::cerr << "chat_server: --ping wants milliseconds, not '" << ping
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

  // C++ only: a chat server holds a socket per client; let it hold as many
  // as the system allows (Debian's default soft limit is 1,024). Node
  // leaves this to the shell (ulimit -n).
  // (Windows has no such limit on sockets.)
#ifndef _WIN32
  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
#endif

  try {
    // JS: const page = readPage(flags.page);
    const std::string page = read_page(page_file);
    // JS: const server = tls ? https.createServer(tls) : http.createServer();
    ws::ServerOptions options;
    options.certFile = cert;
    options.keyFile = key;
    // JS: const origins = flags.origin ? flags.origin.split(",") : [];
    options.allowedOrigins = split(origin, ',');
    // JS: const deflate = flags.deflate && { serverNoContextTakeover: true };
    // (server_no_context_takeover is ws::Server's default once it is on)
    options.perMessageDeflate.enabled = deflate;
    // JS: const heartbeat = Number(flags.ping) || 0;
    if (!ping.empty())
      options.pingInterval = std::chrono::milliseconds(std::stol(ping));
#ifdef WS_CHAT_REDIS
    // C++ only: --redis shares the rooms with other instances (ws::RedisBus;
    // in Node, socket.io's Redis adapter would).
    std::shared_ptr<ws::RedisBus> bus;
    if (!redis.empty())
      bus = redis_bus(redis);
    options.bus = bus;
#endif
    // JS: const wss = new WebSocketServer({ server, verifyClient,
    // JS: perMessageDeflate: deflate });
    ws::Server server(options);
    // JS: server.on("request", (req, res) => {
    server.onrequest = [&](const ws::Request &req, ws::Response &res) {
      // JS: if (req.url.split("?")[0] === "/") {
      if (req.path == "/") {
        // JS: res.setHeader("Content-Type", "text/html; charset=utf-8");
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        // JS: res.end(page);
        res.body = page;
      } else {
        // JS: res.statusCode = 404;
        res.status = 404;
        // JS: res.end("Not found");
        res.body = "Not found";
      }
    };
    // JS: wss.on("connection", (socket, req) => {
    server.onconnection = [&](ws::WebSocket &socket, const ws::Request &req) {
      // JS: const room = roomOf(req.url);
      const std::string room = room_of(req.query);
      // JS: subscribe(socket, room);
      socket.subscribe(room);
      // JS: socket.send("Welcome to the chat room.");
      socket.send("Welcome to the chat room.");
      // JS: socket.onmessage = (event) => {
      socket.onmessage = [&server, room](const ws::MessageEvent &event) {
        // JS: publish(room, event.data);
        server.publish(room, event.data);
      };
    };
    // JS: process.once("SIGINT", stop).once("SIGTERM", stop);
    ws::onSignal({SIGINT, SIGTERM}, [&](int) { server.close(); });
    // JS: server.listen(Number(port), host || undefined, () => {
    server.listen(static_cast<std::uint16_t>(std::stoi(port)), host);
    // JS: console.log("chat_server listening on " + url);
    std::cout << "chat_server listening on "
              << (server.secure() ? "https" : "http") << "://" << url_host(host)
              << ":" << server.port() << "/" << std::endl;
    // C++ only: Node runs its event loop by itself.
    ws::run();
  } catch (const std::invalid_argument &e) { // a flag's value (--redis)
    std::cerr << "chat_server: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "chat_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
