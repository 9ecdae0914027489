// chat_client: the chat page (wschatclient.html) as a console program. Each
// statement is preceded by its twin in the page's JavaScript.
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

  // const nick = prompt("Enter your nickname");
  if (!has_nick) {
    std::cerr << "Enter your nickname: " << std::flush;
    std::getline(std::cin, nick);
  }
  try {
    // const socket = new WebSocket(scheme + location.host + "/");
    ws::WebSocket socket(url, {}, options);
    // socket.onmessage = (event) => {
    socket.onmessage = [&](const ws::MessageEvent &event) {
      // line.textContent = event.data; input.before(line);
      std::cout << event.data << std::endl;
    };
    // C++ only: the terminal is read on a thread of its own, started once
    // the socket is open; send() and close() are safe from any thread.
    socket.onopen = [&](const ws::Event &) {
      std::thread([&socket, nick] {
        std::string line;
        // input.onchange = () => {
        while (std::getline(std::cin, line))
          // socket.send(nick + ": " + input.value);
          socket.send(nick + ": " + line);
        // C++ only: the end of input leaves the chat.
        socket.close(1000);
      }).detach();
    };
    // C++ only: say why a connection failed, and exit 0 only if cleanly
    // closed.
    socket.onerror = [&](const ws::ErrorEvent &event) {
      std::cerr << "chat_client: " << event.message << "\n";
    };
    int status = 1;
    socket.onclose = [&](const ws::CloseEvent &event) {
      status = event.wasClean ? 0 : 1;
    };
    // C++ only: a browser runs its event loop by itself.
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
