// chat_client: the chat page (wschatclient.html) as a console program. Each
// statement is preceded by its twin in Node (examples/js/chat_client.js)
// after "JS:", in the same order; that file shows the page's lines.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

static const char usage[] =
    "usage: chat_client [ws://host:port/] [--nick NAME] [--ca FILE]\n"
    "Chats through a chat_server (default ws://localhost:8000/): each line\n"
    "typed is sent as 'NAME: line' and each message received is printed.\n"
    "End the input (Ctrl-D) to leave. Without --nick it asks for one.\n"
    "  --ca FILE  for wss://, also trust the CA certificates in this PEM "
    "file\n";

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
    } else if (arg == "--nick" && i + 1 < argc) {
      nick = argv[++i];
      has_nick = true;
    } else if (arg == "--ca" && i + 1 < argc) {
      options.caFile = argv[++i];
    } else if (arg.rfind("-", 0) != 0) {
      url = arg;
    } else {
      std::cerr << "chat_client: unknown or incomplete option '" << arg
                << "' (see --help)\n";
      return 2;
    }
  }

  // JS: if (nick === undefined) {
  if (!has_nick) {
    // JS: process.stderr.write("Enter your nickname: ");
    std::cerr << "Enter your nickname: " << std::flush;
    // JS: nick = (await lines.next()).value ?? "";
    std::getline(std::cin, nick);
  }
  try {
    // JS: socket = new WebSocket(url, [], options);
    ws::WebSocket socket(url, {}, options);
    // JS: socket.onmessage = (event) => {
    socket.onmessage = [&](const ws::MessageEvent &event) {
      // JS: console.log(String(event.data));
      std::cout << event.data << std::endl;
    };
    // JS: socket.onopen = async () => {
    socket.onopen = [&](const ws::Event &) {
      // C++ only: the terminal is read on a thread of its own, as JS's
      // for-await does on the loop; send() and close() are safe from any
      // thread.
      std::thread([&socket, nick] {
        std::string line;
        // JS: for await (const line of lines)
        while (std::getline(std::cin, line))
          // JS: socket.send(nick + ": " + line);
          socket.send(nick + ": " + line);
        // JS: socket.close(1000);
        socket.close(1000);
      }).detach();
    };
    // JS: socket.onerror = (event) => {
    socket.onerror = [&](const ws::ErrorEvent &event) {
      // JS: process.stderr.write(`chat_client: ${event.message}\n`);
      std::cerr << "chat_client: " << event.message << "\n";
    };
    int status = 1;
    // JS: socket.onclose = (event) => {
    socket.onclose = [&](const ws::CloseEvent &event) {
      // JS: resolve(event.wasClean ? 0 : 1);
      status = event.wasClean ? 0 : 1;
    };
    // C++ only: Node (and a browser) runs its event loop by itself.
    ws::run();
    // C++ only: the reader thread may still wait on the terminal; leave
    // without destroying the socket it uses.
    std::cout.flush();
    std::_Exit(status);
  } catch (const std::exception &e) { // a bad URL or CA file
    std::cerr << "chat_client: " << e.what() << "\n";
    return 2;
  }
}
