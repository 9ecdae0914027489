// What the tests share: waiting on the loop with a deadline, a raw TCP peer
// for scripted exchanges, and child processes with pipes.
// SPDX-License-Identifier: MIT
#pragma once

#include <ws/websocket.hpp>

#include "catch.hpp"
#include "process.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace test {

using namespace std::chrono_literals;

/// An environment variable meson sets for the test (a program's path).
inline std::string env(const char *name) {
  const char *value = std::getenv(name);
  REQUIRE(value != nullptr);
  return value;
}

/// A text file's lines.
inline std::vector<std::string> read_lines(const std::string &path) {
  std::ifstream f(path);
  REQUIRE(f);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);)
    lines.push_back(line);
  return lines;
}

/// The fenced code blocks of one language in a Markdown file.
inline std::vector<std::string> markdown_blocks(const std::string &path,
                                                const std::string &language) {
  std::vector<std::string> blocks;
  std::string block;
  bool inside = false, wanted = false;
  for (const auto &line : read_lines(path)) {
    if (!inside && line.rfind("```", 0) == 0) {
      inside = true;
      wanted = line == "```" + language;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      if (wanted)
        blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return blocks;
}

/// Every page of the project's documentation, relative to the source root:
/// the READMEs and docs/*.md, so that a block moved between them stays
/// compiled or run.
inline std::vector<std::string> markdown_files(const std::string &root) {
  std::vector<std::string> files = {"README.md", "examples/README.md",
                                    "tests/bench/README.md"};
  std::vector<std::string> docs;
  for (const auto &entry : std::filesystem::directory_iterator(root + "/docs"))
    if (entry.path().extension() == ".md")
      docs.push_back("docs/" + entry.path().filename().string());
  std::sort(docs.begin(), docs.end());
  files.insert(files.end(), docs.begin(), docs.end());
  return files;
}

/// Runs the loop until `done()` holds; fails the test after `timeout`.
inline void wait_until(const std::function<bool()> &done,
                       std::chrono::milliseconds timeout = 10s) {
  REQUIRE(ws::runUntil(done, timeout));
}

/// Runs ws::run() on this thread; if it has not returned within `limit`, the
/// loop is stopped from another thread and the test fails.
inline void run_must_return(std::chrono::milliseconds limit = 5s) {
  std::mutex m;
  std::condition_variable cv;
  bool returned = false, stopped = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, limit, [&] { return returned; })) {
      stopped = true;
      ws::ioContext().stop();
    }
  });
  ws::run();
  {
    std::lock_guard<std::mutex> lock(m);
    returned = true;
  }
  cv.notify_one();
  watchdog.join();
  ws::ioContext().restart();
  REQUIRE_FALSE(stopped);
}

inline std::string local_url(const ws::Server &server,
                             const std::string &path = "/") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

/// The loopback addresses as a URL names them: 127.0.0.1, and [::1] where
/// the system has IPv6 (what "localhost" resolves to, in either order).
inline std::vector<std::string> loopbacks() {
  asio::io_context ctx;
  asio::ip::tcp::acceptor probe(ctx);
  asio::error_code ec;
  probe.open(asio::ip::tcp::v6(), ec);
  if (!ec)
    probe.bind({asio::ip::address_v6::loopback(), 0}, ec);
  if (ec)
    return {"127.0.0.1"};
  return {"127.0.0.1", "[::1]"};
}

/// The port in a program's "... listening on SCHEME://HOST:PORT/" line.
inline std::string port_in(const std::string &line) {
  const auto colon = line.rfind(':');
  REQUIRE(colon != std::string::npos);
  const auto end = line.find_first_not_of("0123456789", colon + 1);
  return line.substr(colon + 1,
                     end == std::string::npos ? end : end - colon - 1);
}

/// A loopback port nobody listens on right now (the kernel's pick, then
/// released), for a program that cannot be told to pick its own.
inline std::string free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return std::to_string(a.local_endpoint().port());
}

/// A server on 127.0.0.1, any free port, that echoes every message back
/// as it came (text as text, binary as binary).
struct EchoServer {
  ws::Server server;
  std::vector<ws::CloseEvent> closes; // what the server's sockets saw
  EchoServer() {
    server.onconnection = [this](ws::WebSocket &socket, const ws::Request &) {
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data, {e.isBinary});
      };
      socket.onclose = [this](const ws::CloseEvent &e) { closes.push_back(e); };
    };
    server.listen(0, "127.0.0.1");
  }
  std::string url(const std::string &path = "/") const {
    return local_url(server, path);
  }
};

/// Records every event a socket fires, in order, as short strings.
struct Recorder {
  std::vector<std::string> events;
  std::vector<ws::MessageEvent> messages;
  std::vector<ws::CloseEvent> closes;
  std::vector<std::string> errors;
  std::vector<unsigned short> states; // readyState at each event
  void attach(ws::WebSocket &s) {
    s.onopen = [this, &s](const ws::Event &) {
      events.push_back("open");
      states.push_back(s.readyState());
    };
    s.onmessage = [this, &s](const ws::MessageEvent &e) {
      events.push_back("message");
      messages.push_back(e);
      states.push_back(s.readyState());
    };
    s.onerror = [this, &s](const ws::ErrorEvent &e) {
      events.push_back("error");
      errors.push_back(e.message);
      states.push_back(s.readyState());
    };
    s.onclose = [this, &s](const ws::CloseEvent &e) {
      events.push_back("close");
      closes.push_back(e);
      states.push_back(s.readyState());
    };
  }
  bool closed() const { return !closes.empty(); }
};

/// An EchoServer with one client connected to it and recorded: the
/// starting point of most tests.
struct OpenClient {
  EchoServer echo;
  ws::WebSocket socket{echo.url()};
  Recorder r;
  OpenClient() {
    r.attach(socket);
    wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  }
};

/// A TCP peer of our own on the loop, for exchanges websocketpp would never
/// produce: it accepts one connection, reads the request head, answers with
/// `respond(request)`, then, if `then_close`, closes the TCP connection.
struct ScriptedServer {
  asio::ip::tcp::acceptor acceptor{ws::detail::loop().ctx,
                                   {asio::ip::make_address("127.0.0.1"), 0}};
  std::function<std::string(const std::string &)> respond;
  bool then_close = true;
  bool hold_open = false; // never close TCP, whatever the client sends
  std::shared_ptr<asio::ip::tcp::socket> peer;
  std::string request;

  explicit ScriptedServer(std::function<std::string(const std::string &)> r)
      : respond(std::move(r)) {
    acceptor.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
      if (ec)
        return; // aborted: `this` may be gone
      peer = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      read_head();
    });
  }
  ~ScriptedServer() {
    // Cancels what is pending; those handlers return without touching us.
    asio::error_code ignored;
    acceptor.close(ignored);
    if (peer)
      peer->close(ignored);
  }
  void read_head() {
    auto buf = std::make_shared<asio::streambuf>();
    asio::async_read_until(
        *peer, *buf, "\r\n\r\n",
        [this, buf](asio::error_code ec, std::size_t n) {
          if (ec)
            return;
          request.assign(asio::buffers_begin(buf->data()),
                         asio::buffers_begin(buf->data()) + n);
          auto out = std::make_shared<std::string>(respond(request));
          // From here on only the socket is used: the test may end first.
          asio::async_write(*peer, asio::buffer(*out),
                            [p = peer, out, close = then_close,
                             hold = hold_open](asio::error_code, std::size_t) {
                              if (close)
                                p->close();
                              else if (!hold)
                                close_on_input(p);
                            });
        });
  }
  /// Closes the TCP connection once the client sends anything (its close
  /// frame) or goes away: a server that drops the connection promptly.
  static void close_on_input(std::shared_ptr<asio::ip::tcp::socket> p) {
    auto buf = std::make_shared<std::array<char, 1024>>();
    p->async_read_some(asio::buffer(*buf),
                       [p, buf](asio::error_code, std::size_t) {
                         asio::error_code ignored;
                         p->close(ignored);
                       });
  }
  std::string url() const {
    return "ws://127.0.0.1:" +
           std::to_string(acceptor.local_endpoint().port()) + "/";
  }
  /// The header's value in the request ("" if absent).
  std::string header(const std::string &name) const {
    auto at = request.find("\r\n" + name + ": ");
    if (at == std::string::npos)
      return "";
    at += name.size() + 4;
    return request.substr(at, request.find("\r\n", at) - at);
  }
  /// RFC 6455 4.2.2: the Sec-WebSocket-Accept for the request's key.
  std::string accept_key() const {
    std::string key =
        header("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[20];
    websocketpp::sha1::calc(key.data(), key.size(), digest);
    return websocketpp::base64_encode(digest, 20);
  }
  std::string upgrade(const std::string &extra_headers = "") const {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
           accept_key() + "\r\n" + extra_headers + "\r\n";
  }
};

/// The RFC 6455 example upgrade request (key "dGhlIHNhbXBsZSBub25jZQ==").
inline std::string upgrade_request(const std::string &extra_headers = "") {
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
         extra_headers + "\r\n";
}

/// The status line of the answer to an upgrade request with these headers.
inline std::string upgrade_status(std::uint16_t port,
                                  const std::string &extra_headers) {
  asio::io_context ctx;
  asio::ip::tcp::socket s(ctx);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(upgrade_request(extra_headers)));
  asio::streambuf buf;
  asio::read_until(s, buf, "\r\n");
  std::string line(asio::buffers_begin(buf.data()),
                   asio::buffers_begin(buf.data()) + buf.size());
  return line.substr(0, line.find("\r\n"));
}

/// A plain HTTP GET over loopback; returns the whole response.
inline std::string http_get(std::uint16_t port, const std::string &path,
                            const std::string &extra_headers = "") {
  asio::io_context ctx;
  asio::ip::tcp::socket s(ctx);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    extra_headers + "Connection: close\r\n\r\n";
  asio::write(s, asio::buffer(req));
  std::string response;
  asio::error_code ec;
  char buf[4096];
  for (;;) {
    std::size_t n = s.read_some(asio::buffer(buf), ec);
    response.append(buf, n);
    if (ec)
      break;
  }
  return response;
}

} // namespace test
