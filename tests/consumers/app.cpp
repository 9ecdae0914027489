// What a user's first program looks like, built each of the seven ways that
// README's "Using ws in your project" shows (run.sh): a server and a client
// in one process, one message there and back. Prints "echo: hello" and
// exits 0, or exits 1 after 10 s.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <iostream>
#include <string>

int main() {
  ws::Server server;
  server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
    socket.onmessage = [&socket](const ws::MessageEvent &event) {
      socket.send(event.data);
    };
  };
  server.listen(0, "127.0.0.1");

  ws::WebSocket socket("ws://127.0.0.1:" + std::to_string(server.port()));
  bool echoed = false;
  socket.onopen = [&](const ws::Event &) { socket.send("hello"); };
  socket.onmessage = [&](const ws::MessageEvent &event) {
    std::cout << "echo: " << event.data << std::endl;
    echoed = true;
    socket.close();
    server.close();
  };
  ws::runUntil([&] { return echoed; }, std::chrono::seconds(10));
  return echoed ? 0 : 1;
}
