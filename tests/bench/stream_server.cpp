// stream_server: the benchmark's WebSocketStream (C++20) server. Each socket
// echoes in a coroutine of its own, which adopts the server's socket:
//   for (;;) { auto [value, done] = co_await reader.read();
//              if (done) break; co_await writer.write(value); }
// so each connection has one echo in the kernel's hands at a time (the
// writable's high-water mark, 1): a write syscall per message. --pipelined
// echoes with readable.pipeTo(writable), as JS would: co_await
// writer.ready(), then write without awaiting the write, with
// writableHighWaterMark 64 (above the benchmark's 16 in flight per
// connection: at 16 the window closed once per batch of reads, held them,
// and cost 1.47x the event API's CPU here). --events
// echoes with the event API (echo_server's onmessage), built as this program
// is: on a compiler that builds C++20 only separately compiled (g++ 12), both
// link ws-compiled, so their ratio is the stream's own cost. The slow readers
// (the memory a reader that cannot keep up costs): with
// --slow MS a coroutine reads one message every MS ms and echoes nothing;
// --slow-events MS does the same with the event API (pause() until a timer
// fires, resume(), one message, pause() again); --slow-unpaused MS queues
// what onmessage gives and takes one every MS ms (no backpressure).
// SPDX-License-Identifier: MIT
#include <ws/stream.hpp>
#include <ws/task.hpp>
#include <ws/websocket.hpp>

#include <deque>
#include <iostream>
#include <memory>
#include <string>

namespace {

// A connection the generator resets ends in a WebSocketError (read() or
// ready() throws it): for these servers, just the end.
ws::Task<void> echo(ws::WebSocket socket, bool pipelined) try {
  ws::WebSocketStream wss(socket,
                          {.writableHighWaterMark = pipelined ? 64u : 1u});
  auto [readable, writable, extensions, protocol] = co_await wss.opened();
  if (pipelined)
    co_return co_await readable.pipeTo(writable);
  auto reader = readable.getReader();
  auto writer = writable.getWriter();
  for (;;) {
    auto [value, done] = co_await reader.read();
    if (done)
      break;
    co_await writer.write(value);
  }
} catch (const ws::DOMException &) {
}

ws::Task<void> slow(ws::WebSocket socket, int ms) try {
  ws::WebSocketStream wss(socket);
  auto [readable, writable, extensions, protocol] = co_await wss.opened();
  auto reader = readable.getReader();
  for (;;) {
    auto [value, done] = co_await reader.read();
    if (done)
      break;
    co_await ws::delay(std::chrono::milliseconds(ms));
  }
} catch (const ws::DOMException &) {
}

/// The event API's slow reader: paused, and resumed for one message per
/// timer tick (onmessage pauses it again).
void slow_events(ws::WebSocket socket, int ms) {
  socket.pause();
  socket.onmessage = [socket](const ws::MessageEvent &) mutable {
    socket.pause();
  };
  const auto id = ws::setInterval([socket]() mutable { socket.resume(); }, ms);
  socket.onclose = [id](const ws::CloseEvent &) { ws::clearInterval(id); };
}

/// No backpressure: onmessage queues everything; a timer takes one.
void slow_unpaused(ws::WebSocket socket, int ms) {
  auto queue = std::make_shared<std::deque<std::string>>();
  socket.onmessage = [queue](const ws::MessageEvent &e) {
    queue->push_back(e.data);
  };
  auto id = ws::setInterval(
      [queue] {
        if (!queue->empty())
          queue->pop_front();
      },
      ms);
  socket.onclose = [id, queue](const ws::CloseEvent &) {
    ws::clearInterval(id);
  };
}

} // namespace

int main(int argc, char **argv) {
  std::string port = "0", host = "127.0.0.1", mode = "echo";
  int ms = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--pipelined" || flag == "--events") {
      mode = flag.substr(2);
    } else if ((flag == "--slow" || flag == "--slow-events" ||
                flag == "--slow-unpaused") &&
               i + 1 < argc) {
      mode = flag.substr(2);
      ms = std::stoi(argv[++i]);
    } else if ((flag == "--port" || flag == "--host") && i + 1 < argc) {
      (flag == "--port" ? port : host) = argv[++i];
    } else {
      std::cerr << "usage: stream_server [--port N] [--host H] [--events "
                   "| --pipelined | --slow MS | --slow-events MS | "
                   "--slow-unpaused MS]\n";
      return 2;
    }
  }
  ws::Server server;
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
    if (mode == "events")
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data, {e.isBinary});
      };
    else if (mode == "echo" || mode == "pipelined")
      ws::spawn(echo(socket, mode == "pipelined"));
    else if (mode == "slow")
      ws::spawn(slow(socket, ms));
    else if (mode == "slow-events")
      slow_events(socket, ms);
    else
      slow_unpaused(socket, ms);
  };
  server.listen(static_cast<std::uint16_t>(std::stoi(port)), host);
  std::cout << "stream_server listening on ws://" << host << ":"
            << server.port() << "/" << std::endl;
  ws::run();
}
