// wscat: a command-line WebSocket client, like npm's wscat. One line per
// event on stdout; each line typed is sent as a text message.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

static const char usage[] =
    "usage: wscat URL [--protocol P]... [--echo] [--ca FILE] [--no-check]\n"
    "             [--version]\n"
    "Connects to URL and prints one line per event:\n"
    "  open <protocol or ->, message text <data>, message binary <hex>,\n"
    "  error <message>, close <code> <wasClean> <reason>\n"
    "Each line typed is sent as a text message; the end of input closes\n"
    "with 1000. --echo sends every message back instead of reading input.\n"
    "Exits 0 if the connection closed cleanly, 1 otherwise, 2 on a usage\n"
    "error (a bad flag, URL or CA file).\n"
    "  --ca FILE    for wss://, also trust the CA certificates in FILE\n"
    "  --no-check   for wss://, accept any certificate (tests only)\n"
    "  --version    print the version and exit\n";

// One event per line: a newline inside a message prints as \n.
static std::string one_line(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
  return out;
}

static std::string hex(const std::string &bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int main(int argc, char **argv) {
  std::string url;
  std::vector<std::string> protocols;
  bool echo = false;
  ws::ClientOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "wscat " << ws::version << "\n";
      return 0;
    } else if (arg == "--protocol" && i + 1 < argc) {
      protocols.push_back(argv[++i]);
    } else if (arg == "--echo") {
      echo = true;
    } else if (arg == "--ca" && i + 1 < argc) {
      options.caFile = argv[++i];
    } else if (arg == "--no-check") {
      options.rejectUnauthorized = false;
    } else if (arg.rfind("-", 0) != 0 && url.empty()) {
      url = arg;
    } else {
      std::cerr << "wscat: unknown or incomplete option '" << arg
                << "' (see --help)\n";
      return 2;
    }
  }
  if (url.empty()) {
    std::cerr << "wscat: no URL given (see --help)\n";
    return 2;
  }
  try {
    ws::WebSocket socket(url, protocols, options);
    // The terminal is read on the loop, once the socket is open.
    ws::ReadLine lines;
    lines.pause();
    lines.online = [&](const std::string &line) { socket.send(line); };
    lines.onclose = [&] { socket.close(1000); };
    socket.onopen = [&](const ws::Event &) {
      std::cout << "open "
                << (socket.protocol().empty() ? "-" : socket.protocol())
                << std::endl;
      if (!echo)
        lines.resume();
    };
    socket.onmessage = [&](const ws::MessageEvent &event) {
      if (event.isBinary)
        std::cout << "message binary " << hex(event.data) << std::endl;
      else
        std::cout << "message text " << one_line(event.data) << std::endl;
      if (echo)
        socket.send(event.data, {event.isBinary});
    };
    socket.onerror = [](const ws::ErrorEvent &event) {
      std::cout << "error " << one_line(event.message) << std::endl;
    };
    int status = 1;
    socket.onclose = [&](const ws::CloseEvent &event) {
      std::cout << "close " << event.code << " "
                << (event.wasClean ? "true" : "false") << " "
                << one_line(event.reason) << std::endl;
      status = event.wasClean ? 0 : 1;
      lines.close();
    };
    // A typed line that is not UTF-8 makes send() throw SyntaxError: the
    // loop reports it on stderr and goes on.
    ws::run();
    return status;
  } catch (const std::exception &e) { // a bad URL or CA file
    std::cerr << "wscat: " << e.what() << "\n";
    return 2;
  }
}
