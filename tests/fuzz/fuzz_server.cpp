// libFuzzer target: a ws::Server fed arbitrary bytes over a real loopback
// socket. The first byte chooses whether a valid upgrade request comes
// first, so the fuzzer reaches both the HTTP parser and the frame parser;
// then the bytes, then our end of TCP. The server must answer or close,
// never crash, hang or leak.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

namespace {

struct Target {
  ws::Server server;
  Target() {
    server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data, {e.isBinary});
      };
    };
    server.onrequest = [](const ws::Request &req, ws::Response &res) {
      res.body = req.path;
    };
    server.listen(0, "127.0.0.1");
  }
};

const char upgrade[] = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  static Target target;
  if (size == 0)
    return 0;
  auto &ctx = ws::ioContext();
  auto bytes = std::make_shared<std::string>(
      reinterpret_cast<const char *>(data + 1), size - 1);
  if (data[0] & 1)
    bytes->insert(0, upgrade);
  auto peer = std::make_shared<asio::ip::tcp::socket>(ctx);
  // Connecting through the loop: the server accepts on this thread, so a
  // blocking connect waited on itself once the listen queue was full (and
  // libFuzzer's alarm then broke it with EINTR).
  bool connected = false;
  asio::error_code failed;
  peer->async_connect(
      {asio::ip::make_address("127.0.0.1"), target.server.port()},
      [&](asio::error_code ec) {
        failed = ec;
        connected = true;
      });
  if (!ws::runUntil([&] { return connected; }, std::chrono::seconds(20)) ||
      failed)
    std::abort(); // the server's port stopped taking connections
  bool done = false;
  asio::async_write(*peer, asio::buffer(*bytes),
                    [peer, bytes](asio::error_code ec, std::size_t) {
                      if (!ec)
                        peer->shutdown(asio::ip::tcp::socket::shutdown_send,
                                       ec);
                    });
  // Read until the server ends the connection.
  auto buf = std::make_shared<std::array<char, 65536>>();
  std::function<void()> read = [&] {
    peer->async_read_some(asio::buffer(*buf),
                          [&, buf](asio::error_code ec, std::size_t) {
                            if (ec)
                              done = true;
                            else
                              read();
                          });
  };
  read();
  if (!ws::runUntil([&] { return done; }, std::chrono::seconds(20)))
    std::abort(); // the server neither answered nor closed: a hang
  return 0;
}
