// wscat: a command-line WebSocket client (or, with -l, a one-connection
// server), like npm's wscat. One line per event on stdout; each line typed is
// sent as a text message.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

static const char usage[] =
    "usage: wscat [-c] URL [options]     connect to URL\n"
    "       wscat -l PORT [options]      accept one connection on PORT\n"
    "Prints one line per event:\n"
    "  open <protocol or ->, message text <data>, message binary <hex>,\n"
    "  error <message>, close <code> <wasClean> <reason>\n"
    "  (and with -P: ping <data>, pong <data>; with --reconnect:\n"
    "  reconnecting <code> <attempt> <delay ms>; with -l: listening <url>)\n"
    "Each line typed is sent as a text message; the end of input closes\n"
    "with 1000. Exits 0 if the connection closed cleanly, 1 otherwise, 2 on\n"
    "a usage error (a bad flag, URL, header or file).\n"
    "  -c, --connect URL       the URL to connect to (or give it alone)\n"
    "  -l, --listen PORT       be the server: accept one connection on PORT\n"
    "                          (0: any free port), on 127.0.0.1 unless\n"
    "                          --host says otherwise\n"
    "  --host H                with -l: the address to listen on\n"
    "  -s, --subprotocol P     offer (or with -l, accept) subprotocol P; may\n"
    "                          repeat (--protocol P: the same)\n"
    "  -H, --header 'N: V'     send this header with the handshake; may "
    "repeat\n"
    "  -o, --origin ORIGIN     send this Origin header\n"
    "  -w, --wait SECONDS      after the end of input, wait this long for\n"
    "                          answers before closing\n"
    "  -P, --show-ping-pong    print pings and pongs as they come\n"
    "  --proxy URL             connect through this HTTP proxy\n"
    "                          (http://[user:password@]host:port)\n"
    "  --reconnect             connect again after an unexpected close\n"
    "  --no-deflate            do not offer compression (permessage-deflate,\n"
    "                          offered by default as browsers do); with -l,\n"
    "                          --deflate accepts it\n"
    "  --echo                  send every message back instead of reading "
    "input\n"
    "  --ca FILE               for wss://, also trust the CAs in FILE\n"
    "  --cert FILE, --key FILE for wss://, show this client certificate\n"
    "  -n, --no-check          for wss://, accept any certificate (tests "
    "only)\n"
    "  -v, --verbose           print the handshake (request and answer) on\n"
    "                          stderr\n"
    "  -V, --version           print the version and exit\n";

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

/// What the flags asked for.
struct Settings {
  std::string url;
  int listen = -1; // the port with -l
  std::string host = "127.0.0.1";
  std::vector<std::string> protocols;
  bool echo = false;
  bool show_ping_pong = false;
  bool verbose = false;
  bool deflate_server = false; // -l with --deflate
  int wait_seconds = 0;
  ws::ClientOptions options;
};

/// Prints the events of `socket` (a client's, or the one a -l server
/// accepted), lets what is typed be sent once it is open, and sets the exit
/// status at close.
static void show(ws::WebSocket &socket, ws::ReadLine &lines,
                 const Settings &settings, int &status) {
  auto print_open = [&socket, &lines, &settings] {
    std::cout << "open "
              << (socket.protocol().empty() ? "-" : socket.protocol())
              << std::endl;
    if (!settings.echo)
      lines.resume();
  };
  if (socket.readyState() == ws::WebSocket::OPEN)
    print_open(); // accepted by the -l server
  socket.onopen = [print_open](const ws::Event &) { print_open(); };
  socket.onmessage = [&socket, &settings](const ws::MessageEvent &event) {
    if (event.isBinary)
      std::cout << "message binary " << hex(event.data) << std::endl;
    else
      std::cout << "message text " << one_line(event.data) << std::endl;
    if (settings.echo)
      socket.send(event.data, {event.isBinary});
  };
  socket.onerror = [](const ws::ErrorEvent &event) {
    std::cout << "error " << one_line(event.message) << std::endl;
  };
  socket.onreconnecting = [&lines](const ws::ReconnectingEvent &event) {
    std::cout << "reconnecting " << event.code << " " << event.attempt << " "
              << event.delay.count() << std::endl;
    lines.pause();
  };
  socket.onclose = [&lines, &status](const ws::CloseEvent &event) {
    std::cout << "close " << event.code << " "
              << (event.wasClean ? "true" : "false") << " "
              << one_line(event.reason) << std::endl;
    status = event.wasClean ? 0 : 1;
    lines.close();
  };
  if (settings.show_ping_pong)
    for (const char *type : {"ping", "pong"})
      socket.addEventListener(type, [](const ws::MessageEvent &event) {
        std::cout << event.type << " " << one_line(event.data) << std::endl;
      });
  if (settings.verbose)
    socket.addEventListener("upgrade", [](const ws::UpgradeEvent &event) {
      std::cerr << event.request << event.response;
    });
}

/// Reads the flags; returns 0 to go on, else the exit status.
static int parse(int argc, char **argv, Settings &s) {
  auto fail = [](const std::string &why) {
    std::cerr << "wscat: " << why << " (see --help)\n";
    return 2;
  };
  auto number = [](const std::string &text, int most, int &out) {
    try {
      std::size_t end = 0;
      out = std::stoi(text, &end);
      return end == text.size() && out >= 0 && out <= most;
    } catch (const std::exception &) {
      return false;
    }
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    auto is = [&](const char *a, const char *b = "") {
      return arg == a || arg == b;
    };
    if (is("--help", "-h")) {
      std::cout << usage;
      return -1;
    } else if (is("--version", "-V")) {
      std::cout << "wscat " << ws::version << "\n";
      return -1;
    } else if (is("--connect", "-c") && has_value) {
      s.url = argv[++i];
    } else if (is("--listen", "-l") && has_value) {
      if (!number(argv[++i], 65535, s.listen))
        return fail("-l needs a port from 0 to 65535, not '" +
                    std::string(argv[i]) + "'");
    } else if (is("--host") && has_value) {
      s.host = argv[++i];
    } else if (is("--subprotocol", "-s") && has_value) {
      s.protocols.push_back(argv[++i]);
    } else if (is("--protocol") && has_value) {
      s.protocols.push_back(argv[++i]);
    } else if (is("--header", "-H") && has_value) {
      const std::string header = argv[++i];
      const auto colon = header.find(':');
      if (colon == std::string::npos || colon == 0)
        return fail("-H needs 'Name: value', not '" + header + "'");
      const auto value = header.find_first_not_of(' ', colon + 1);
      s.options.headers.emplace_back(
          header.substr(0, colon),
          value == std::string::npos ? "" : header.substr(value));
    } else if (is("--origin", "-o") && has_value) {
      s.options.origin = argv[++i];
    } else if (is("--wait", "-w") && has_value) {
      if (!number(argv[++i], 24 * 3600, s.wait_seconds))
        return fail("-w needs a number of seconds, not '" +
                    std::string(argv[i]) + "'");
    } else if (is("--show-ping-pong", "-P")) {
      s.show_ping_pong = true;
    } else if (is("--proxy") && has_value) {
      s.options.proxy = argv[++i];
    } else if (is("--reconnect")) {
      s.options.reconnect.enabled = true;
    } else if (is("--deflate") || is("--no-deflate")) {
      s.options.perMessageDeflate.enabled = arg == "--deflate";
      s.deflate_server = arg == "--deflate";
    } else if (is("--echo")) {
      s.echo = true;
    } else if (is("--ca") && has_value) {
      s.options.caFile = argv[++i];
    } else if (is("--cert") && has_value) {
      s.options.certFile = argv[++i];
    } else if (is("--key") && has_value) {
      s.options.keyFile = argv[++i];
    } else if (is("--no-check", "-n")) {
      s.options.rejectUnauthorized = false;
    } else if (is("--verbose", "-v")) {
      s.verbose = true;
    } else if (arg.rfind("-", 0) != 0 && s.url.empty()) {
      s.url = arg;
    } else {
      return fail("unknown or incomplete option '" + arg + "'");
    }
  }
  if (s.url.empty() == (s.listen < 0))
    return fail(s.url.empty() ? "no URL given"
                              : "give a URL or -l PORT, not both");
  return 0;
}

int main(int argc, char **argv) {
  Settings settings;
  if (const int status = parse(argc, argv, settings))
    return status < 0 ? 0 : status;
  int status = 1;
  try {
    // The terminal is read on the loop, once the socket is open.
    ws::ReadLine lines;
    lines.pause();
    std::unique_ptr<ws::WebSocket> socket;
    std::unique_ptr<ws::Server> server;
    if (settings.listen >= 0) {
      // One connection: another gets 503 while it is open, and its close
      // ends the program.
      ws::ServerOptions options;
      options.maxConnections = 1;
      options.perMessageDeflate.enabled = settings.deflate_server;
      server = std::make_unique<ws::Server>(options);
      server->handleProtocols = [&](const std::vector<std::string> &offered,
                                    const ws::Request &) {
        for (const auto &p : offered)
          for (const auto &mine : settings.protocols)
            if (p == mine)
              return p;
        return std::string();
      };
      server->onconnection = [&](ws::WebSocket &accepted, const ws::Request &) {
        socket = std::make_unique<ws::WebSocket>(accepted);
        show(*socket, lines, settings, status);
        // Its close ends the program, as a client's does.
        socket->addEventListener("close",
                                 [&](const ws::Event &) { server->close(); });
      };
      server->listen(static_cast<std::uint16_t>(settings.listen),
                     settings.host);
      std::cout << "listening ws://"
                << (settings.host.find(':') != std::string::npos
                        ? "[" + settings.host + "]"
                        : settings.host)
                << ":" << server->port() << "/" << std::endl;
    } else {
      socket = std::make_unique<ws::WebSocket>(settings.url, settings.protocols,
                                               settings.options);
      show(*socket, lines, settings, status);
    }
    lines.online = [&](const std::string &line) { socket->send(line); };
    lines.onclose = [&] {
      if (!socket)
        return server->close(); // -l, and no client came
      if (settings.wait_seconds == 0)
        return socket->close(1000);
      ws::setTimeout([&] { socket->close(1000); },
                     std::chrono::seconds(settings.wait_seconds));
    };
    // A typed line that is not UTF-8 makes send() throw SyntaxError: the
    // loop reports it on stderr and goes on.
    ws::run();
    return status;
  } catch (const std::exception &e) { // a bad URL, header, file or port
    std::cerr << "wscat: " << e.what() << "\n";
    return 2;
  }
}
