// echo_server: sends every message back as it came, text as text and binary
// as binary, on any path. The server the conformance tests and benchmarks
// talk to. Each statement is preceded by its twin in Node (`ws` package).
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <csignal>
#include <iostream>
#include <string>

// C++ only: the host as a URL names it: every address (no --host) is
// reached as localhost, and an IPv6 address goes in brackets.
static std::string url_host(const std::string &host) {
  if (host.empty())
    return "localhost";
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

static const char usage[] =
    "usage: echo_server [--port N] [--host H] [--accept-protocols]\n"
    "                   [--cert FILE --key FILE] [--deflate] [--version]\n"
    "Echoes every message back: text as text, binary as binary.\n"
    "  --port N              port to listen on, 0-65535 (default 9001)\n"
    "  --host H              address to listen on (default: every address,\n"
    "                        IPv6 and IPv4)\n"
    "  --accept-protocols    accept the first subprotocol a client offers\n"
    "  --cert FILE           serve wss:// with this PEM certificate\n"
    "  --key FILE            the certificate's PEM private key\n"
    "  --deflate             accept permessage-deflate (compression)\n"
    "  --version             print the version and exit\n"
    "Exits 2 on a usage error, 1 when it cannot serve (e.g. the port is "
    "taken).\n";

int main(int argc, char **argv) {
  // C++ only: the flags.
  std::string port = "9001", host;
  ws::ServerOptions options;
  bool accept_protocols = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      return 0;
    } else if (flag == "--version") {
      std::cout << "echo_server " << ws::version << "\n";
      return 0;
    } else if (flag == "--deflate") {
      options.perMessageDeflate.enabled = true;
    } else if (flag == "--accept-protocols") {
      accept_protocols = true;
    } else if ((flag == "--port" || flag == "--host") && i + 1 < argc) {
      (flag == "--port" ? port : host) = argv[++i];
    } else if (flag == "--cert" && i + 1 < argc) {
      options.certFile = argv[++i];
    } else if (flag == "--key" && i + 1 < argc) {
      options.keyFile = argv[++i];
    } else {
      std::cerr << "echo_server: unknown or incomplete option '" << flag
                << "' (see --help)\n";
      return 2;
    }
  }
  if (options.certFile.empty() != options.keyFile.empty()) {
    std::cerr << "echo_server: --cert and --key go together\n";
    return 2;
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    std::cerr << "echo_server: --port wants a number 0-65535, not '" << port
              << "'\n";
    return 2;
  }

  try {
    // const wss = new WebSocketServer({ port, host, handleProtocols,
    //                                   perMessageDeflate });
    // (with --cert: { server: https.createServer({ cert, key }), ... })
    ws::Server server(options);
    if (accept_protocols)
      // handleProtocols: (protocols) => protocols.values().next().value,
      server.handleProtocols = [](const std::vector<std::string> &offered,
                                  const ws::Request &) { return offered[0]; };
    // wss.on("connection", (socket) => {
    server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
      // socket.on("message", (data, isBinary) => {
      socket.onmessage = [&socket](const ws::MessageEvent &event) {
        // socket.send(data, { binary: isBinary });
        socket.send(event.data, {event.isBinary});
      };
    };
    // process.once("SIGINT", () => { closeEverySocket(1001); wss.close(); });
    ws::onSignal({SIGINT, SIGTERM}, [&](int) { server.close(); });
    server.listen(static_cast<std::uint16_t>(std::stoi(port)), host);
    // const url = `${scheme}://${host || "localhost"}:${port}/`;
    // console.log(`echo_server listening on ${url}`);
    std::cout << "echo_server listening on " << (server.secure() ? "wss" : "ws")
              << "://" << url_host(host) << ":" << server.port() << "/"
              << std::endl;
    // C++ only: Node runs its event loop by itself.
    ws::run();
  } catch (const std::exception &e) {
    std::cerr << "echo_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
