// chat_client: the chat page (wschatclient.html) as a console program. Each
// statement is preceded by its twin in Node (examples/js/chat_client.js)
// after "JS:", in the same order; that file shows the page's lines.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <chrono>
#include <iostream>
#include <string>

static const char usage[] =
    "usage: chat_client [ws://host:port/] [--nick NAME] [--ca FILE] "
    "[--reconnect]\n"
    "                   [--ping MS] [--deflate | --no-deflate] [--version]\n"
    "Chats through a chat_server (default ws://localhost:8000/): each line\n"
    "typed is sent as 'NAME: line' and each message received is printed.\n"
    "End the input (Ctrl-D) to leave. Without --nick it asks for one.\n"
    "  --ca FILE      for wss://, also trust the CA certificates in this PEM "
    "file\n"
    "  --reconnect    when the connection drops, connect again (waiting 1 s,\n"
    "                 2 s, ... up to 30 s) and go on chatting\n"
    "  --ping MS      ping every MS ms: a link that answers nothing for that\n"
    "                 long is dead (default: none, or 30000 with --reconnect)\n"
    "  --deflate, --no-deflate\n"
    "                 offer compression (permessage-deflate), as a browser\n"
    "                 does, or not (default: offer)\n"
    "  --version      print the version and exit\n"
    "Exits 0 when the chat closed cleanly, 1 otherwise, 2 on a usage error.\n";

/// A count of milliseconds, 1 to 8 digits, as --ping takes.
static bool milliseconds(const std::string &s) {
  return !s.empty() && s.size() <= 8 &&
         s.find_first_not_of("0123456789") == std::string::npos;
}

int main(int argc, char **argv) {
  // C++ only: the flags.
  std::string url = "ws://localhost:8000/", nick;
  ws::ClientOptions options;
  bool has_nick = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "chat_client " << ws::version << "\n";
      return 0;
    } else if (arg == "--nick" && i + 1 < argc) {
      nick = argv[++i];
      has_nick = true;
    } else if (arg == "--ca" && i + 1 < argc) {
      options.caFile = argv[++i];
    } else if (arg == "--reconnect") {
      options.reconnect.enabled = true;
    } else if (arg == "--ping" && i + 1 < argc && milliseconds(argv[i + 1])) {
      options.pingInterval = std::chrono::milliseconds(std::stol(argv[++i]));
    } else if (arg == "--deflate" || arg == "--no-deflate") {
      options.perMessageDeflate.enabled = arg == "--deflate";
    } else if (arg.rfind("-", 0) != 0) {
      url = arg;
    } else {
      std::cerr << "chat_client: unknown or incomplete option '" << arg
                << "' (see --help)\n";
      return 2;
    }
  }

  // JS: const lines = readline.createInterface({ input: process.stdin });
  ws::ReadLine lines;
  // JS: if (nick === undefined) {
  if (!has_nick) {
    // JS: process.stderr.write("Enter your nickname: ");
    std::cerr << "Enter your nickname: " << std::flush;
  }
  try {
    // JS: socket = new WebSocket(url, [], options);
    ws::WebSocket socket(url, {}, options);
    // JS: lines.pause();
    lines.pause();
    // JS: socket.onmessage = (event) => {
    socket.onmessage = [&](const ws::MessageEvent &event) {
      // JS: console.log(String(event.data));
      std::cout << event.data << std::endl;
    };
    // JS: socket.onopen = () => {
    socket.onopen = [&](const ws::Event &) {
      // JS: lines.resume();
      lines.resume();
    };
    // JS: socket.onreconnecting = (event) => {
    socket.onreconnecting = [&](const ws::ReconnectingEvent &event) {
      // JS: lines.pause();
      lines.pause();
      // JS: console.error(`chat_client: reconnecting in ${event.delay} ms`);
      std::cerr << "chat_client: reconnecting in " << event.delay.count()
                << " ms" << std::endl;
    };
    // JS: lines.on("line", (line) => {
    lines.online = [&](const std::string &line) {
      // JS: if (nick === undefined) {
      if (!has_nick) {
        // JS: nick = line;
        nick = line;
        has_nick = true;
        // JS: return;
        return;
      }
      // JS: socket.send(nick + ": " + line);
      socket.send(nick + ": " + line);
    };
    // JS: lines.on("close", () => {
    lines.onclose = [&] {
      // JS: socket.close(1000);
      socket.close(1000);
    };
    // JS: socket.onerror = (event) => {
    socket.onerror = [&](const ws::ErrorEvent &event) {
      // JS: process.stderr.write(`chat_client: ${event.message}\n`);
      std::cerr << "chat_client: " << event.message << "\n";
    };
    int status = 1;
    // JS: socket.onclose = (event) => {
    socket.onclose = [&](const ws::CloseEvent &event) {
      // JS: lines.close();
      lines.close();
      // JS: if (!event.wasClean || event.code !== 1000) {
      if (!event.wasClean || event.code != 1000) {
        // JS: console.error(`chat_client: disconnected (code: ${code}, ` +
        std::cerr << "chat_client: disconnected (code: " << event.code
                  << ", reason: \"" << event.reason << "\")" << std::endl;
      }
      // JS: resolve(event.wasClean ? 0 : 1);
      status = event.wasClean ? 0 : 1;
    };
    // C++ only: Node (and a browser) runs its event loop by itself. A line
    // that is not UTF-8 makes send() throw SyntaxError (a JS string is
    // always UTF-8): the loop reports it on stderr and goes on.
    ws::run();
    return status;
  } catch (const std::exception &e) { // a bad URL or CA file
    std::cerr << "chat_client: " << e.what() << "\n";
    return 2;
  }
}
