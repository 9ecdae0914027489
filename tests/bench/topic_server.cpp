// topic_server: the benchmark's ws server for topics. Each socket joins the
// room its query names (/?room=NAME) and each message goes to that room with
// server.publish(); with --broadcast it goes to every socket with
// server.broadcast() instead: the same program and the same work, with and
// without topics, so the two costs compare directly.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv) {
  std::string port = "0", host = "127.0.0.1";
  bool broadcast = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--broadcast") {
      broadcast = true;
    } else if ((flag == "--port" || flag == "--host") && i + 1 < argc) {
      (flag == "--port" ? port : host) = argv[++i];
    } else {
      std::cerr << "usage: topic_server [--port N] [--host H] [--broadcast]\n";
      return 2;
    }
  }
  ws::Server server;
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &req) {
    const std::string room =
        req.query.rfind("room=", 0) == 0 ? req.query.substr(5) : "";
    socket.subscribe(room);
    socket.onmessage = [&server, room,
                        broadcast](const ws::MessageEvent &event) {
      if (broadcast)
        server.broadcast(event.data);
      else
        server.publish(room, event.data);
    };
  };
  server.listen(static_cast<std::uint16_t>(std::stoi(port)), host);
  std::cout << "topic_server listening on http://" << host << ":"
            << server.port() << "/" << std::endl;
  ws::run();
}
