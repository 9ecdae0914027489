// A TCP forwarder of our own on the loop, for a network that is slow to
// connect: it accepts at once, then waits before it forwards anything (or
// never does), either to a fixed port or, as an HTTP CONNECT proxy, to the
// authority the client asks for.
// SPDX-License-Identifier: MIT
#pragma once

#include "support.hpp"

#include <optional>

namespace test {

class Forwarder {
public:
  /// How long each connection waits before it is forwarded; none: for ever.
  using Delay = std::optional<std::chrono::milliseconds>;

  /// To 127.0.0.1:`target`; with `target` 0, an HTTP CONNECT proxy that
  /// answers 200 after the delay (and then forwards to what was asked for).
  Forwarder(std::uint16_t target, Delay delay)
      : state_(std::make_shared<State>()) {
    state_->target = target;
    state_->delay = delay;
    state_->accept();
  }
  ~Forwarder() {
    // What is pending ends with operation_aborted, touching only the state.
    asio::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto &s : state_->sessions)
      s->close();
  }
  std::uint16_t port() const {
    return state_->acceptor.local_endpoint().port();
  }
  std::string proxy_url() const {
    return "http://127.0.0.1:" + std::to_string(port());
  }
  /// Connections forwarded so far (both ends connected).
  std::size_t forwarded() const { return state_->forwarded; }

private:
  using Socket = asio::ip::tcp::socket;

  struct Session : std::enable_shared_from_this<Session> {
    Socket client{ws::detail::loop().ctx};
    Socket server{ws::detail::loop().ctx};
    asio::steady_timer timer{ws::detail::loop().ctx};
    void close() {
      asio::error_code ignored;
      client.close(ignored);
      server.close(ignored);
      timer.cancel();
    }
    /// Copies from `from` to `to` until either ends, then closes both.
    void pipe(Socket &from, Socket &to) {
      auto buf = std::make_shared<std::array<char, 16384>>();
      from.async_read_some(
          asio::buffer(*buf), [self = shared_from_this(), &from, &to,
                               buf](asio::error_code ec, std::size_t n) {
            if (ec)
              return self->close();
            asio::async_write(
                to, asio::buffer(buf->data(), n),
                [self, &from, &to, buf](asio::error_code ec, std::size_t) {
                  if (ec)
                    return self->close();
                  self->pipe(from, to);
                });
          });
    }
  };

  struct State : std::enable_shared_from_this<State> {
    asio::ip::tcp::acceptor acceptor{
        ws::detail::loop().ctx,
        asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
    std::uint16_t target = 0;
    Delay delay;
    std::vector<std::shared_ptr<Session>> sessions;
    std::size_t forwarded = 0;

    void accept() {
      auto session = std::make_shared<Session>();
      acceptor.async_accept(session->client, [st = shared_from_this(),
                                              session](asio::error_code ec) {
        if (ec)
          return;
        st->sessions.push_back(session);
        if (st->target)
          st->wait(session, st->target, "");
        else
          st->read_connect(session);
        st->accept();
      });
    }
    /// The CONNECT request head: its port is where to go.
    void read_connect(const std::shared_ptr<Session> &session) {
      auto buf = std::make_shared<asio::streambuf>();
      asio::async_read_until(
          session->client, *buf, "\r\n\r\n",
          [st = shared_from_this(), session, buf](asio::error_code ec,
                                                  std::size_t n) {
            if (ec)
              return session->close();
            const std::string head(asio::buffers_begin(buf->data()),
                                   asio::buffers_begin(buf->data()) + n);
            const auto colon = head.find(':');
            const auto port =
                static_cast<std::uint16_t>(std::stoi(head.substr(colon + 1)));
            st->wait(session, port,
                     "HTTP/1.1 200 Connection established\r\n\r\n");
          });
    }
    void wait(const std::shared_ptr<Session> &session, std::uint16_t port,
              std::string answer) {
      if (!delay)
        return; // for ever: the client waits on a socket that says nothing
      session->timer.expires_after(*delay);
      session->timer.async_wait([st = shared_from_this(), session, port,
                                 answer](asio::error_code ec) {
        if (ec)
          return;
        session->server.async_connect(
            {asio::ip::make_address("127.0.0.1"), port},
            [st, session, answer](asio::error_code ec) {
              if (ec)
                return session->close();
              ++st->forwarded;
              auto out = std::make_shared<std::string>(answer);
              asio::async_write(
                  session->client, asio::buffer(*out),
                  [session, out](asio::error_code ec, std::size_t) {
                    if (ec)
                      return session->close();
                    session->pipe(session->client, session->server);
                    session->pipe(session->server, session->client);
                  });
            });
      });
    }
  };
  std::shared_ptr<State> state_;
};

} // namespace test
