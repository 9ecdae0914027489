// A TCP forwarder of our own on the loop: the network faults this machine's
// kernel cannot make (it has no netem). It forwards to a fixed port or, as
// an HTTP CONNECT proxy, to the authority the client asks for; it can wait
// before it forwards a new connection (or never do), and, on command, for
// every connection through it: blackhole (keep both ends open and forward
// nothing, as a route that went away or a suspended peer does), heal,
// reset (RST both ends, as a NAT that forgot the mapping answers), and make
// the link slow (a latency each way and a rate in bytes per second).
//
// A blackhole stops reading, so what is sent into it waits in the kernels'
// buffers, as it waits in a sender's retransmission queue on a real link,
// and arrives once the link heals: TCP loses nothing, it only stops.
// SPDX-License-Identifier: MIT
#pragma once

#include "support.hpp"

#include <algorithm>
#include <deque>
#include <optional>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace test {

class Forwarder {
public:
  /// How long each connection waits before it is forwarded; none: for ever.
  using Delay = std::optional<std::chrono::milliseconds>;

  /// To 127.0.0.1:`target`; with `target` 0, an HTTP CONNECT proxy that
  /// answers 200 after the delay (and then forwards to what was asked for).
  explicit Forwarder(std::uint16_t target,
                     Delay delay = std::chrono::milliseconds(0))
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
  std::string url(const std::string &path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(port()) + path;
  }
  std::string proxy_url() const {
    return "http://127.0.0.1:" + std::to_string(port());
  }
  /// Connections forwarded so far (both ends connected).
  std::size_t forwarded() const { return state_->forwarded; }

  /// Connections the target has ended (its FIN or RST is in: the socket
  /// to it is no longer ESTABLISHED), seen even while blackholed: what a
  /// test watches for when the target must find a silent peer.
  std::size_t ended_by_target() const {
    return std::count_if(
        state_->sessions.begin(), state_->sessions.end(), [](const auto &s) {
          if (!s->server.is_open())
            return s->closed;
          tcp_info info{};
          socklen_t size = sizeof info;
          return getsockopt(s->server.native_handle(), IPPROTO_TCP, TCP_INFO,
                            &info, &size) == 0 &&
                 info.tcpi_state != TCP_ESTABLISHED;
        });
  }

  /// Nothing more is forwarded, either way, on any connection (new ones
  /// are accepted and wait too); both ends stay open.
  void blackhole() { state_->blackholed = true; }
  /// Forwarding goes on where it stopped.
  void heal() {
    state_->blackholed = false;
    for (auto &s : state_->sessions)
      s->wake();
  }
  /// Every connection through it is reset (an RST to both ends).
  void reset() {
    for (auto &s : state_->sessions)
      s->reset();
  }
  /// A slow link: each chunk arrives `latency` after it was sent, and no
  /// faster than `bytes_per_second` (0: no limit) in each direction.
  void slow(std::chrono::milliseconds latency, std::size_t bytes_per_second) {
    state_->latency = latency;
    state_->rate = bytes_per_second;
  }

private:
  using Socket = asio::ip::tcp::socket;
  using Clock = std::chrono::steady_clock;
  struct State;

  /// One direction of a connection: a reader that takes chunks from
  /// `from` and a writer that gives each to `to` when it is due.
  struct Direction {
    Socket &from, &to;
    asio::steady_timer timer;
    struct Chunk {
      Clock::time_point due;
      std::string data;
    };
    std::deque<Chunk> queue;
    std::size_t queued = 0;
    Clock::time_point last_due{};
    bool reading = false, writing = false;
    bool ended = false, done = false; // `from` sent FIN; `to` was given it
    Direction(Socket &f, Socket &t)
        : from(f), to(t), timer(ws::detail::loop().ctx) {}
  };

  struct Session : std::enable_shared_from_this<Session> {
    std::weak_ptr<State> state;
    Socket client{ws::detail::loop().ctx};
    Socket server{ws::detail::loop().ctx};
    asio::steady_timer timer{ws::detail::loop().ctx};
    Direction up{client, server}, down{server, client};
    bool started = false, closed = false;

    void close() {
      closed = true;
      asio::error_code ignored;
      client.close(ignored);
      server.close(ignored);
      timer.cancel();
      up.timer.cancel();
      down.timer.cancel();
    }
    void reset() {
      asio::error_code ignored;
      for (Socket *s : {&client, &server})
        if (s->is_open())
          s->set_option(asio::socket_base::linger(true, 0), ignored);
      close();
    }
    void start() {
      started = true;
      wake();
    }
    void wake() {
      if (!started || closed)
        return;
      for (Direction *d : {&up, &down}) {
        read(*d);
        write(*d);
      }
    }
    bool blackholed() const {
      auto st = state.lock();
      return !st || st->blackholed;
    }
    /// Reads the next chunk unless the link is blackholed or enough waits.
    void read(Direction &d) {
      if (d.reading || d.ended || closed || blackholed() || d.queued >= 65536)
        return;
      auto st = state.lock();
      // A throttled link reads no more than a twentieth of a second's worth
      // at a time, so the rate holds within a chunk.
      std::size_t most = 16384;
      if (st->rate)
        most = std::clamp<std::size_t>(st->rate / 20, 1, most);
      auto buf = std::make_shared<std::string>(most, '\0');
      d.reading = true;
      d.from.async_read_some(
          asio::buffer(*buf), [self = shared_from_this(), &d,
                               buf](asio::error_code ec, std::size_t n) {
            d.reading = false;
            if (ec == asio::error::eof) {
              d.ended = true; // after what waits, `to` gets the FIN
              return self->write(d);
            }
            if (ec)
              return self->close();
            buf->resize(n);
            auto st = self->state.lock();
            if (!st)
              return self->close();
            auto due = Clock::now() + st->latency;
            if (st->rate)
              due = std::max(due, d.last_due + std::chrono::microseconds(
                                                   n * 1000000 / st->rate));
            d.last_due = due;
            d.queued += n;
            d.queue.push_back({due, std::move(*buf)});
            self->write(d);
            self->read(d);
          });
    }
    /// Writes the oldest chunk once it is due, unless blackholed.
    void write(Direction &d) {
      if (d.writing || closed || blackholed())
        return;
      if (d.queue.empty()) {
        if (d.ended && !d.done) {
          d.done = true;
          asio::error_code ignored;
          d.to.shutdown(Socket::shutdown_send, ignored);
          if (up.done && down.done)
            close();
        }
        return;
      }
      d.writing = true;
      d.timer.expires_at(d.queue.front().due);
      d.timer.async_wait([self = shared_from_this(), &d](asio::error_code ec) {
        if (ec || self->closed)
          return;
        if (self->blackholed()) {
          d.writing = false; // heal() starts it again
          return;
        }
        asio::async_write(d.to, asio::buffer(d.queue.front().data),
                          [self, &d](asio::error_code ec, std::size_t n) {
                            d.writing = false;
                            if (ec)
                              return self->close();
                            d.queued -= n;
                            d.queue.pop_front();
                            self->write(d);
                            self->read(d);
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
    bool blackholed = false;
    std::chrono::milliseconds latency{0};
    std::size_t rate = 0;

    void accept() {
      auto session = std::make_shared<Session>();
      session->state = weak_from_this();
      acceptor.async_accept(session->client, [st = shared_from_this(),
                                              session](asio::error_code ec) {
        if (ec)
          return;
        // Sessions that ended go: a soak makes many.
        st->sessions.erase(
            std::remove_if(st->sessions.begin(), st->sessions.end(),
                           [](const auto &s) { return s->closed; }),
            st->sessions.end());
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
                    session->start();
                  });
            });
      });
    }
  };
  std::shared_ptr<State> state_;
};

} // namespace test
