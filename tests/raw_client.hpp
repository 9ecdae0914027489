// A WebSocket client written from RFC 6455 alone, speaking raw bytes over a
// blocking TCP socket: what a conformance test needs to send frames no
// library would.
// SPDX-License-Identifier: MIT
#pragma once

#include "support.hpp"

#include <optional>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace test {

/// Frame opcodes (RFC 6455 5.2): `using namespace test::opcode;`.
namespace opcode {
enum { CONT = 0, TEXT = 1, BINARY = 2, CLOSE = 8, PING = 9, PONG = 10 };
}

struct Frame {
  bool fin = true;
  int rsv = 0; // the three reserved bits, as 0-7
  int opcode = 0;
  std::string payload;
  /// The status code of a close frame (1005 if it has none).
  int close_code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1])
                               : 1005;
  }
};

/// One frame on the wire, masked with a fixed key unless `masked` is false.
inline std::string frame(int opcode, const std::string &payload,
                         bool fin = true, int rsv = 0, bool masked = true) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | opcode);
  const char mask_bit = masked ? '\x80' : '\0';
  const std::size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF);
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked)
    out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i)
    out += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  return out;
}

inline std::string close_payload(int code, const std::string &reason = "") {
  return std::string{static_cast<char>(code >> 8),
                     static_cast<char>(code & 0xFF)} +
         reason;
}

class RawClient {
public:
  RawClient(std::uint16_t port, const std::string &extra_headers = "") {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) ==
            0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send_raw(upgrade_request(extra_headers));
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto byte = read_bytes(1);
      REQUIRE(byte);
      head += *byte;
    }
    response = head;
    REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
    // RFC 6455 4.2.2's own example key and answer.
    REQUIRE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
  }
  ~RawClient() { close(fd_); }

  void send_raw(const std::string &bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n =
          ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        return; // the server may already have closed: reads will tell
      sent += static_cast<std::size_t>(n);
    }
  }

  /// The next frame, or nothing if the server closed the TCP connection.
  std::optional<Frame> read_frame() {
    auto head = read_bytes(2);
    if (!head)
      return std::nullopt;
    Frame f;
    unsigned char b0 = (*head)[0], b1 = (*head)[1];
    f.fin = b0 & 0x80;
    f.rsv = (b0 >> 4) & 7;
    f.opcode = b0 & 0x0F;
    CHECK((b1 & 0x80) == 0); // a server never masks (RFC 6455 5.1)
    std::uint64_t n = b1 & 0x7F;
    if (n >= 126) {
      auto ext = read_bytes(n == 126 ? 2 : 8);
      REQUIRE(ext);
      n = 0;
      for (unsigned char c : *ext)
        n = (n << 8) | c;
    }
    auto payload = read_bytes(static_cast<std::size_t>(n));
    REQUIRE(payload);
    f.payload = *payload;
    return f;
  }

  /// True once the server has closed the TCP connection (within 10 s).
  bool closed_by_server() {
    auto b = read_bytes(1);
    return !b;
  }

  std::string response;

private:
  std::optional<std::string> read_bytes(std::size_t n) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      REQUIRE(left.count() > 0); // the server went quiet
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[65536];
      ssize_t got = recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0)
        return std::nullopt;
      out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
  }

  int fd_ = -1;
};

/// The whole frames in `bytes` from `at` on, unmasked where they are
/// masked (a client's); an incomplete last frame is left out.
inline std::vector<Frame> parse_frames(const std::string &bytes,
                                       std::size_t at) {
  std::vector<Frame> out;
  auto byte = [&](std::size_t i) {
    return static_cast<unsigned char>(bytes[i]);
  };
  while (at + 2 <= bytes.size()) {
    Frame f;
    f.fin = byte(at) & 0x80;
    f.rsv = (byte(at) >> 4) & 7;
    f.opcode = byte(at) & 0x0F;
    const bool masked = byte(at + 1) & 0x80;
    std::uint64_t n = byte(at + 1) & 0x7F;
    std::size_t head = 2;
    if (n >= 126) {
      const std::size_t ext = n == 126 ? 2 : 8;
      if (at + 2 + ext > bytes.size())
        break;
      n = 0;
      for (std::size_t i = 0; i < ext; ++i)
        n = (n << 8) | byte(at + 2 + i);
      head += ext;
    }
    const std::size_t key = at + head;
    if (masked)
      head += 4;
    if (at + head + n > bytes.size())
      break;
    f.payload = bytes.substr(at + head, static_cast<std::size_t>(n));
    if (masked)
      for (std::size_t i = 0; i < f.payload.size(); ++i)
        f.payload[i] = static_cast<char>(f.payload[i] ^ bytes[key + (i & 3)]);
    out.push_back(std::move(f));
    at += head + static_cast<std::size_t>(n);
  }
  return out;
}

/// A raw TCP client on the ws loop, for a ws::Server in the same thread: it
/// sends the bytes it is told, collects what it reads (unless told not to
/// read: a peer that stops reading), and notes when the server closes TCP.
class LoopPeer {
public:
  explicit LoopPeer(std::uint16_t port, bool read = true) {
    // Blocking is fine: the kernel completes a loopback connect before the
    // server's loop accepts it.
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    socket_.set_option(asio::ip::tcp::no_delay(true));
    if (read)
      read_more();
  }
  ~LoopPeer() {
    *alive_ = false;
    asio::error_code ignored;
    socket_.close(ignored);
  }
  /// Queues bytes to send, in order, as the loop runs.
  void send(const std::string &bytes) {
    outbox_ += bytes;
    if (!writing_)
      write_more();
  }
  /// Everything queued has been written (or the connection failed).
  bool flushed() const { return !writing_; }
  /// Starts reading (for a peer made with read = false).
  void start_reading() { read_more(); }
  /// The status line of the server's HTTP response ("" until it came).
  std::string status() const {
    auto end = received.find("\r\n");
    return end == std::string::npos ? "" : received.substr(0, end);
  }
  bool has_head() const {
    return received.find("\r\n\r\n") != std::string::npos;
  }
  /// The whole frames received after the response head.
  std::vector<Frame> frames() const {
    const std::size_t at = received.find("\r\n\r\n");
    if (at == std::string::npos)
      return {};
    return parse_frames(received, at + 4);
  }
  /// Resets the connection (RST) instead of closing it in order.
  void reset() {
    socket_.set_option(asio::socket_base::linger(true, 0));
    asio::error_code ignored;
    socket_.close(ignored);
  }
  /// Half-close: no more bytes from us; reading goes on.
  void shutdown_send() {
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void close() {
    asio::error_code ignored;
    socket_.close(ignored);
  }
  asio::ip::tcp::socket &socket() { return socket_; }

  std::string received;
  bool eof = false; // the server closed (or reset) the connection

private:
  void write_more() {
    auto out = std::make_shared<std::string>(std::move(outbox_));
    outbox_.clear();
    writing_ = true;
    asio::async_write(
        socket_, asio::buffer(*out),
        [this, out, alive = alive_](asio::error_code ec, std::size_t) {
          if (!*alive)
            return;
          writing_ = false;
          // An error: the server closed; reads tell the test.
          if (!ec && !outbox_.empty())
            write_more();
        });
  }
  void read_more() {
    auto buf = std::make_shared<std::array<char, 65536>>();
    socket_.async_read_some(
        asio::buffer(*buf),
        [this, buf, alive = alive_](asio::error_code ec, std::size_t n) {
          if (!*alive)
            return;
          if (ec) {
            eof = true;
            return;
          }
          received.append(buf->data(), n);
          read_more();
        });
  }
  asio::ip::tcp::socket socket_{ws::detail::loop().ctx};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string outbox_;
  bool writing_ = false;
};

/// Frames as a client sends them (masked), from raw bytes.
inline std::vector<Frame> client_frames(const std::string &bytes) {
  return parse_frames(bytes, 0);
}

/// The 101 answer to an upgrade request (RFC 6455 4.2.2), with
/// `extra_headers` ("Name: value\r\n" each).
inline std::string upgrade_for(const std::string &request,
                               const std::string &extra_headers = "") {
  const std::string name = "Sec-WebSocket-Key: ";
  const auto at = request.find(name) + name.size();
  std::string key = request.substr(at, request.find("\r\n", at) - at) +
                    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[20];
  websocketpp::sha1::calc(key.data(), key.size(), digest);
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
         websocketpp::base64_encode(digest, 20) + "\r\n" + extra_headers +
         "\r\n";
}

/// A server written by hand, on the loop: it answers the upgrade with a
/// correct 101 and `script`, then records what the client sends. With
/// `drop`, it closes TCP right after the script; else when the client has
/// sent a close frame. `headers` go in its 101 answer.
struct MisbehavingServer {
  asio::ip::tcp::acceptor acceptor{ws::detail::loop().ctx,
                                   {asio::ip::make_address("127.0.0.1"), 0}};
  std::shared_ptr<asio::ip::tcp::socket> peer;
  std::shared_ptr<std::string> received = std::make_shared<std::string>();
  std::string script;
  bool drop = false;
  std::string headers;

  MisbehavingServer(std::string s, bool d, std::string h = "")
      : script(std::move(s)), drop(d), headers(std::move(h)) {
    acceptor.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
      if (ec)
        return;
      peer = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      auto buf = std::make_shared<asio::streambuf>();
      asio::async_read_until(
          *peer, *buf, "\r\n\r\n",
          [this, buf](asio::error_code ec, std::size_t n) {
            if (ec)
              return;
            const std::string request(asio::buffers_begin(buf->data()),
                                      asio::buffers_begin(buf->data()) + n);
            auto out = std::make_shared<std::string>(
                upgrade_for(request, headers) + script);
            asio::async_write(*peer, asio::buffer(*out),
                              [p = peer, out, r = received,
                               d = drop](asio::error_code, std::size_t) {
                                if (d)
                                  p->close();
                                else
                                  record(p, r);
                              });
          });
    });
  }
  ~MisbehavingServer() {
    asio::error_code ignored;
    acceptor.close(ignored);
    if (peer)
      peer->close(ignored);
  }
  /// Reads until the client's close frame, then closes TCP.
  static void record(std::shared_ptr<asio::ip::tcp::socket> p,
                     std::shared_ptr<std::string> into) {
    auto buf = std::make_shared<std::array<char, 4096>>();
    p->async_read_some(asio::buffer(*buf),
                       [p, into, buf](asio::error_code ec, std::size_t n) {
                         if (ec)
                           return;
                         into->append(buf->data(), n);
                         for (const auto &f : client_frames(*into))
                           if (f.opcode == opcode::CLOSE) {
                             asio::error_code ignored;
                             p->close(ignored);
                             return;
                           }
                         record(p, into);
                       });
  }
  std::string url() const {
    return "ws://127.0.0.1:" +
           std::to_string(acceptor.local_endpoint().port()) + "/";
  }
  /// The client's close frame, if it sent one.
  std::optional<Frame> close_frame() const {
    for (const auto &f : client_frames(*received))
      if (f.opcode == opcode::CLOSE)
        return f;
    return std::nullopt;
  }
};

/// How long a scripted peer keeps TCP open once our close frame has come to
/// it: none, for ever (and for ever when no close frame comes).
using Hold = std::optional<std::chrono::milliseconds>;

/// A peer of either role that misbehaves slowly: it opens (a server answers
/// the upgrade with a correct 101 and `headers`; a client sends the RFC's
/// example request), sends `script`, then reads and keeps all we send. It
/// answers nothing (no pong, no close frame), and closes TCP `hold` after
/// our close frame, if one comes; it notes when our side ended TCP. Told
/// not to read, it reads nothing after the handshake (a peer whose window
/// is full).
class HoldingPeer {
public:
  using Clock = std::chrono::steady_clock;

  /// A server on 127.0.0.1 (url()) for one client.
  HoldingPeer(std::string script, Hold hold, std::string headers = "",
              bool reads = true)
      : state_(std::make_shared<State>()) {
    state_->hold = hold;
    state_->reads = reads;
    state_->acceptor = std::make_unique<asio::ip::tcp::acceptor>(
        ws::detail::loop().ctx,
        asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    port_ = state_->acceptor->local_endpoint().port();
    // A small receive buffer (the accepted socket's): what the client
    // sends soon fills it.
    if (!reads)
      state_->acceptor->set_option(
          asio::socket_base::receive_buffer_size(4096));
    state_->acceptor->async_accept(
        [st = state_, script = std::move(script), headers = std::move(headers)](
            asio::error_code ec, asio::ip::tcp::socket s) {
          if (ec)
            return;
          st->socket = std::move(s);
          auto buf = std::make_shared<asio::streambuf>();
          asio::async_read_until(
              st->socket, *buf, "\r\n\r\n",
              [st, buf, script, headers](asio::error_code ec, std::size_t n) {
                if (ec)
                  return;
                const std::string request(asio::buffers_begin(buf->data()),
                                          asio::buffers_begin(buf->data()) + n);
                st->write(upgrade_for(request, headers) + script);
                st->received = "\r\n\r\n"; // frames start here
                if (st->reads)
                  st->read();
              });
        });
  }

  /// A client of the server on `port`, with its own upgrade request.
  HoldingPeer(std::uint16_t port, std::string script, Hold hold,
              bool reads = true)
      : state_(std::make_shared<State>()) {
    state_->hold = hold;
    // A small receive buffer: what the server sends soon fills it.
    if (!reads)
      state_->socket.open(asio::ip::tcp::v4());
    if (!reads)
      state_->socket.set_option(asio::socket_base::receive_buffer_size(4096));
    state_->socket.connect({asio::ip::make_address("127.0.0.1"), port});
    state_->write(upgrade_request() + script);
    if (reads)
      state_->read();
  }

  ~HoldingPeer() {
    // What is pending ends with operation_aborted, touching only the state.
    asio::error_code ignored;
    if (state_->acceptor)
      state_->acceptor->close(ignored);
    state_->socket.close(ignored);
    state_->timer.cancel();
  }

  std::string url() const {
    return "ws://127.0.0.1:" + std::to_string(port_) + "/";
  }
  /// A client's own port, as the server sees it (Request::remotePort).
  std::uint16_t local_port() const {
    return state_->socket.local_endpoint().port();
  }
  /// Our frames, whole, after the handshake's head.
  std::vector<Frame> frames() const {
    const auto at = state_->received.find("\r\n\r\n");
    return at == std::string::npos ? std::vector<Frame>{}
                                   : parse_frames(state_->received, at + 4);
  }
  std::optional<Frame> close_frame() const {
    for (const auto &f : frames())
      if (f.opcode == opcode::CLOSE)
        return f;
    return std::nullopt;
  }
  /// When our side ended TCP (end of stream or a reset), if it has.
  std::optional<Clock::time_point> ended() const { return state_->ended; }
  /// When our close frame arrived, if it has.
  std::optional<Clock::time_point> close_came() const {
    return state_->close_came;
  }

private:
  struct State : std::enable_shared_from_this<State> {
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
    asio::ip::tcp::socket socket{ws::detail::loop().ctx};
    asio::steady_timer timer{ws::detail::loop().ctx};
    Hold hold;
    bool reads = true;
    std::string received;
    std::optional<Clock::time_point> ended, close_came;

    void write(std::string bytes) {
      auto out = std::make_shared<std::string>(std::move(bytes));
      asio::async_write(socket, asio::buffer(*out),
                        [out](asio::error_code, std::size_t) {});
    }
    void read() {
      auto buf = std::make_shared<std::array<char, 65536>>();
      socket.async_read_some(
          asio::buffer(*buf),
          [st = shared_from_this(), buf](asio::error_code ec, std::size_t n) {
            if (ec == asio::error::operation_aborted)
              return; // we closed it
            if (ec) {
              st->ended = Clock::now();
              return;
            }
            st->received.append(buf->data(), n);
            if (!st->close_came) {
              const auto at = st->received.find("\r\n\r\n");
              for (const auto &f : parse_frames(st->received, at + 4))
                if (f.opcode == opcode::CLOSE)
                  st->got_close();
            }
            st->read();
          });
    }
    void got_close() {
      close_came = Clock::now();
      if (!hold)
        return;
      timer.expires_after(*hold);
      timer.async_wait([st = shared_from_this()](asio::error_code ec) {
        if (ec)
          return;
        asio::error_code ignored;
        st->socket.close(ignored);
      });
    }
  };
  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
};

} // namespace test
