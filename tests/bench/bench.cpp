// The benchmark: WebSocket servers as separate processes pinned to one core,
// driven by a load generator of its own on the other core, in the same run
// and alternating:
//   websocketpp  raw websocketpp 0.8.2, stock Asio config, logs off
//                (baseline_server, built beside this program): the baseline
//   ws           our echo_server and chat_server
//   Node ws      tests/interop/echo_server.js and examples/js/chat_server.js
//                (when node and tests/interop's packages are there)
// Scenarios:
//   echo       100 connections x 16 in flight x 32 B text: messages/s and the
//              server's CPU time per message
//   latency    1 connection x 1 in flight x 32 B: round trip p50 and p99
//   large      10 connections x 4 in flight x 64 KiB binary
//   broadcast  a chat server relaying one sender's 64 B messages (16 in
//              flight) to 1,000 clients: deliveries/s and CPU per delivery;
//              and at a fixed 50 messages/s, each delivery's latency from
//              send to arrival, p50 and p99; and 64 B and 1 KiB to 1,000
//              against websocketpp sending one prepared message to all
//              (its own way of framing once)
//   setup      20,000 connections set up one after another, 50 at a time,
//              each an upgrade, one 32 B echo and a close handshake: the
//              server's CPU time per connection (a restart's storm)
//   storm      10,000 ws::WebSocket clients with reconnect on, their chat
//              server killed and started again: the time until all are
//              open again, ws against Node's ws
//   idle       10,000 open connections: the server's memory per connection
//   scaling    broadcast to 100 ... 10,000 clients, idle 1,000 ... 20,000
//   tls        ours over ws:// and wss://: echo, large, idle
//   topics     publish to 1,000 and 10,000 subscribers of one topic, and to
//              100 topics of 100 (one sender each), against broadcast to
//              the same number of sockets (topic_server, built beside this
//              program, with and without --broadcast) and against Node's ws
//              keeping rooms by hand (examples/js/chat_server.js)
//   stream     WebSocketStream (stream_server, C++20): echo and 64 KiB echo
//              through one coroutine per connection against echo_server;
//              and slow readers (one message per 10 ms) flooded with 1 KiB
//              text: the stream, pause()/resume(), no backpressure, and
//              Node's ws both ways (tests/interop/slow_reader.js)
//   deflate    permessage-deflate on in every server (baseline_server
//              --deflate: websocketpp's own extension; Node with its
//              defaults): echo and broadcast of chat-like text, bytes on the
//              wire per message, and memory per idle connection that agreed
// It prints Markdown tables of medians, with each figure's ratio to the
// baseline, and with --out DIR writes them to DIR/bench.md and the scaling
// series as DIR/scaling.svg.
//
// The generator: plain Asio on one thread, a real upgrade handshake, masked
// frames built once and written back to back (pipelined), TLS through
// asio::ssl. The mask key is fixed: fine for load, not for a real client.
// SPDX-License-Identifier: MIT
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <ws/websocket.hpp>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// --- a server under test, as a child process ------------------------------

struct Server {
  pid_t pid = -1;
  std::uint16_t port = 0;
  int output_ = -1;

  /// Starts argv (with `env` added) on `cpu` and reads the port from the
  /// first line it prints (its last number).
  Server(const std::vector<std::string> &argv,
         const std::vector<std::string> &env, int cpu) {
    int out[2];
    if (pipe(out) != 0)
      throw std::runtime_error("pipe failed");
    pid = fork();
    if (pid == 0) {
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
      }
      for (const auto &e : env)
        putenv(const_cast<char *>(e.c_str()));
      dup2(out[1], 1);
      // Nothing else of ours: the generator's thousands of sockets would
      // count against the server's descriptor limit (and stay open).
      close_range(3, ~0U, 0);
      std::vector<char *> args;
      for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n')
      line += c;
    // Kept open until the server is killed: one that goes on printing
    // (Node's echo_server.js logs each close) must not die of EPIPE.
    output_ = out[0];
    auto end = line.find_last_of("0123456789");
    if (end == std::string::npos)
      throw std::runtime_error(argv[0] + " did not start: " + line);
    auto begin = line.find_last_not_of("0123456789", end) + 1;
    port = static_cast<std::uint16_t>(
        std::stoi(line.substr(begin, end - begin + 1)));
  }
  ~Server() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(output_);
  }
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;
  /// User + system CPU seconds so far (/proc/PID/stat fields 14 and 15).
  double cpu_seconds() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), {});
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14)
        utime = std::stoull(field);
      if (i == 15)
        stime = std::stoull(field);
    }
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
  }
  /// Resident memory in KiB (VmRSS).
  long rss_kib() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmRSS:", 0) == 0)
        return std::stol(line.substr(6));
    return 0;
  }
};

// --- the load generator ----------------------------------------------------

/// A masked client frame (RFC 6455 5.2), built once and sent many times.
/// `compressed`: the payload is permessage-deflate's (RSV1).
std::string client_frame(bool binary, const std::string &payload,
                         bool compressed = false) {
  const std::size_t size = payload.size();
  std::string f;
  f += static_cast<char>(0x80 | (compressed ? 0x40 : 0) | (binary ? 2 : 1));
  if (size < 126) {
    f += static_cast<char>(0x80 | size);
  } else if (size < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(size >> 8);
    f += static_cast<char>(size & 255);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i)
      f += static_cast<char>((size >> (8 * i)) & 255);
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(reinterpret_cast<const char *>(mask), 4);
  for (std::size_t i = 0; i < size; ++i)
    f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

/// Text like a chat's, message `k` of many: English words drawn at random
/// (the same draw for the same k), so messages share words but not whole
/// runs, and a compressor that keeps its window sees no copies to reuse.
std::string chat_text(std::size_t n, unsigned k) {
  static const char *words[] = {
      "the",  "be",   "to",   "of",   "and",   "a",     "in",    "that",
      "have", "I",    "it",   "for",  "not",   "on",    "with",  "he",
      "as",   "you",  "do",   "at",   "this",  "but",   "his",   "by",
      "from", "they", "we",   "say",  "her",   "she",   "or",    "an",
      "will", "my",   "one",  "all",  "would", "there", "their", "what",
      "so",   "up",   "out",  "if",   "about", "who",   "get",   "which",
      "go",   "me",   "when", "make", "can",   "like",  "time",  "no",
      "just", "him",  "know", "take", "lunch", "noon",  "train", "late"};
  std::mt19937 random(k);
  std::string s = "ann" + std::to_string(k % 10) + ":";
  while (s.size() < n)
    s += std::string(" ") + words[random() % 64];
  s.resize(n);
  return s;
}

/// `payload` compressed alone (RFC 7692 7.2.1: the 00 00 FF FF tail off).
std::string deflated(const std::string &payload) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, payload.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(payload.data()));
  z.avail_in = static_cast<uInt>(payload.size());
  z.next_out = reinterpret_cast<Bytef *>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

double now_us() {
  return std::chrono::duration<double, std::micro>(
             Clock::now().time_since_epoch())
      .count();
}

struct Load {
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::string frame;               // what every send writes
  std::vector<std::string> frames; // or, if any, these in turn
  std::size_t next_frame = 0;
  std::size_t in_flight = 0; // per sending connection
  int senders = -1;          // the first N connections send; -1: all
  bool counting = true;      // false: open and stay idle
  bool started = false;      // every connection is open: send
  std::size_t read_size = 16384;
  bool round_trips = false;    // time each echo (sends in order)
  bool stamped = false;        // payloads "t<us>...": time each delivery
  bool deflate = false;        // offer permessage-deflate
  int rooms = 0;               // connection i asks for /?room=(i % rooms)
  bool flood = false;          // send without end (the slow readers)
  std::uint64_t flooded = 0;   // bytes the kernel took from a flood
  std::uint64_t received = 0;  // whole messages
  std::uint64_t wire = 0;      // their bytes, headers included
  std::vector<double> samples; // latencies, us
};

template <class Stream> class Conn {
public:
  template <class... A>
  Conn(Load &load, int index, A &&...args)
      : load_(load), index_(index), stream_(std::forward<A>(args)...),
        buf_(load.read_size) {}

  /// Ends the connection with a reset (no TIME_WAIT to use up ports); its
  /// pending operations complete, aborted.
  void stop() {
    stopped_ = true;
    asio::error_code ignored;
    lowest().set_option(asio::socket_base::linger(true, 0), ignored);
    lowest().close(ignored);
  }

  void start(tcp::endpoint ep, std::function<void()> ready) {
    ready_ = std::move(ready);
    lowest().async_connect(ep, [this](asio::error_code ec) {
      check(ec, "connect");
      lowest().set_option(tcp::no_delay(true));
      handshake_tls();
    });
  }

  /// Starts the load once every connection is open (a server still
  /// accepting is not also relaying).
  void start_sending() {
    if (load_.counting && (load_.senders < 0 || index_ < load_.senders))
      send(load_.in_flight);
  }

  /// Sends frames for as long as the connection takes them (load.flood).
  void start_flood() { send(64); }

  /// Queues a frame of its own (the timed broadcast).
  void send_frame(const std::string &frame) {
    extra_ += frame;
    send(0);
  }

private:
  Load &load_;
  int index_;
  Stream stream_;
  std::vector<char> buf_;
  std::function<void()> ready_;
  std::string in_;
  std::string out_, extra_;
  std::size_t to_send_ = 0;
  std::deque<double> sent_at_;
  bool writing_ = false;
  bool stopped_ = false;
  bool open_ = false;

  tcp::socket &lowest() {
    if constexpr (std::is_same_v<Stream, tcp::socket>)
      return stream_;
    else
      return stream_.next_layer();
  }
  void check(asio::error_code ec, const char *what) {
    if (ec && !stopped_)
      throw std::runtime_error(std::string(what) + ": " + ec.message());
  }
  void handshake_tls() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      upgrade();
    } else {
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [this](asio::error_code ec) {
                                check(ec, "TLS handshake");
                                upgrade();
                              });
    }
  }
  void upgrade() {
    const std::string target =
        load_.rooms ? "/?room=" + std::to_string(index_ % load_.rooms) : "/";
    out_ = "GET " + target +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
           std::string(load_.deflate ? "Sec-WebSocket-Extensions: "
                                       "permessage-deflate; "
                                       "client_max_window_bits\r\n"
                                     : "") +
           "\r\n";
    asio::async_write(stream_, asio::buffer(out_),
                      [this](asio::error_code ec, std::size_t) {
                        check(ec, "upgrade request");
                        read_response();
                      });
  }
  void read_response() {
    stream_.async_read_some(
        asio::buffer(buf_), [this](asio::error_code ec, std::size_t n) {
          if (stopped_)
            return;
          check(ec, "upgrade response");
          in_.append(buf_.data(), n);
          const auto end = in_.find("\r\n\r\n");
          if (end == std::string::npos)
            return read_response();
          if (in_.rfind("HTTP/1.1 101", 0) != 0)
            throw std::runtime_error("upgrade refused: " + in_.substr(0, 40));
          in_.erase(0, end + 4);
          open_ = true;
          ready_();
          parse();
          read();
        });
  }
  void send(std::size_t n) {
    to_send_ += n;
    if (writing_ || (to_send_ == 0 && extra_.empty()) || !open_)
      return;
    out_.swap(extra_);
    extra_.clear();
    for (; to_send_ > 0; --to_send_) {
      out_ += load_.frames.empty()
                  ? load_.frame
                  : load_.frames[load_.next_frame++ % load_.frames.size()];
      if (load_.round_trips)
        sent_at_.push_back(now_us());
    }
    writing_ = true;
    asio::async_write(stream_, asio::buffer(out_),
                      [this](asio::error_code ec, std::size_t) {
                        if (stopped_)
                          return;
                        check(ec, "write");
                        writing_ = false;
                        if (load_.flood) {
                          load_.flooded += out_.size();
                          to_send_ += 64;
                        }
                        send(0);
                      });
  }
  /// Counts the whole server frames (unmasked) in what has come.
  void parse() {
    std::size_t at = 0, whole = 0;
    for (;;) {
      const std::size_t avail = in_.size() - at;
      if (avail < 2)
        break;
      const auto *p = reinterpret_cast<const unsigned char *>(in_.data() + at);
      std::size_t len = p[1] & 127, head = 2;
      if (len == 126) {
        if (avail < 4)
          break;
        len = (std::size_t(p[2]) << 8) | p[3];
        head = 4;
      } else if (len == 127) {
        if (avail < 10)
          break;
        len = 0;
        for (int i = 2; i < 10; ++i)
          len = (len << 8) | p[i];
        head = 10;
      }
      if (avail < head + len)
        break;
      if (load_.stamped && len > 1 && p[head] == 't')
        load_.samples.push_back(
            now_us() - std::stod(std::string(in_.data() + at + head + 1, 20)));
      if (load_.round_trips && !sent_at_.empty()) {
        load_.samples.push_back(now_us() - sent_at_.front());
        sent_at_.pop_front();
      }
      at += head + len;
      load_.wire += head + len;
      ++whole;
    }
    in_.erase(0, at);
    load_.received += whole;
    if (load_.counting && load_.started &&
        (load_.senders < 0 || index_ < load_.senders))
      send(whole); // keep the window full
  }
  void read() {
    stream_.async_read_some(asio::buffer(buf_),
                            [this](asio::error_code ec, std::size_t n) {
                              if (ec)
                                return; // the run is over
                              in_.append(buf_.data(), n);
                              parse();
                              read();
                            });
  }
};

/// Opens `conns` connections and completes their upgrades, at most 256 at a
/// time: a server given thousands of TLS handshakes at once lets the last
/// ones wait past its handshake timeout. Gives up after 60 s.
template <class Stream>
std::vector<std::unique_ptr<Conn<Stream>>> open_all(Load &load, Server &server,
                                                    int conns) {
  std::vector<std::unique_ptr<Conn<Stream>>> all;
  int ready = 0;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (ready < conns) {
    while (int(all.size()) < conns && int(all.size()) - ready < 256) {
      const int i = int(all.size());
      if constexpr (std::is_same_v<Stream, tcp::socket>)
        all.push_back(std::make_unique<Conn<Stream>>(load, i, load.io));
      else
        all.push_back(
            std::make_unique<Conn<Stream>>(load, i, load.io, load.tls));
      all.back()->start(ep, [&] { ++ready; });
    }
    load.io.run_one_for(std::chrono::seconds(1));
    if (Clock::now() > deadline)
      throw std::runtime_error("only " + std::to_string(ready) + " of " +
                               std::to_string(conns) + " connections opened");
  }
  return all;
}

/// Stops every connection and lets their aborted operations finish.
template <class Conns> void close_all(Load &load, Conns &all) {
  for (auto &c : all)
    c->stop();
  load.io.restart();
  load.io.run_for(std::chrono::seconds(5));
  all.clear();
}

/// Connections one after another, each as a client coming back after a
/// restart lives it: connect, upgrade, one 32 B message echoed, the close
/// handshake, and the server's FIN (it closes TCP first, RFC 6455 7.1.1).
class Visits {
public:
  Visits(Load &load, tcp::endpoint ep, int count, std::function<void()> done)
      : load_(load), ep_(ep), left_(count), socket_(load.io),
        done_(std::move(done)) {}
  void start() {
    if (left_-- == 0)
      return done_();
    socket_ = tcp::socket(load_.io);
    in_.clear();
    stage_ = Stage::upgrading;
    socket_.async_connect(ep_, [this](asio::error_code ec) {
      check(ec, "connect");
      socket_.set_option(tcp::no_delay(true));
      write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
      read();
    });
  }

private:
  enum class Stage { upgrading, echoing, closing, ending };
  Load &load_;
  tcp::endpoint ep_;
  int left_;
  tcp::socket socket_;
  std::function<void()> done_;
  Stage stage_ = Stage::upgrading;
  std::string in_, out_;
  std::array<char, 4096> buf_;

  static void check(asio::error_code ec, const char *what) {
    if (ec)
      throw std::runtime_error(std::string(what) + ": " + ec.message());
  }
  void write(std::string bytes) {
    out_ = std::move(bytes);
    asio::async_write(
        socket_, asio::buffer(out_),
        [](asio::error_code ec, std::size_t) { check(ec, "write"); });
  }
  /// The length of the whole server frame at the front of in_, or 0.
  std::size_t whole_frame() const {
    if (in_.size() < 2 || (in_[1] & 127) > 125)
      return 0; // (our frames here are short)
    const std::size_t n = 2 + std::size_t(in_[1] & 127);
    return in_.size() >= n ? n : 0;
  }
  void read() {
    socket_.async_read_some(
        asio::buffer(buf_), [this](asio::error_code ec, std::size_t n) {
          if (ec == asio::error::eof && stage_ == Stage::ending) {
            ++load_.received; // one whole visit
            return start();
          }
          check(ec, "read");
          in_.append(buf_.data(), n);
          if (stage_ == Stage::upgrading) {
            const auto end = in_.find("\r\n\r\n");
            if (end == std::string::npos)
              return read();
            if (in_.rfind("HTTP/1.1 101", 0) != 0)
              throw std::runtime_error("upgrade refused: " + in_.substr(0, 40));
            in_.erase(0, end + 4);
            stage_ = Stage::echoing;
            write(client_frame(false, std::string(32, 'x')));
          }
          if (stage_ == Stage::echoing) {
            if (const std::size_t n = whole_frame()) {
              in_.erase(0, n);
              stage_ = Stage::closing;
              write(client_frame(false, "\x03\xe8") // close 1000
                        .replace(0, 1, 1, char(0x88)));
            }
          }
          if (stage_ == Stage::closing && whole_frame()) {
            if ((in_[0] & 15) != 8)
              throw std::runtime_error("no close frame came back");
            stage_ = Stage::ending;
          }
          read();
        });
  }
};

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

// --- scenarios ---------------------------------------------------------------

struct Figures {
  double rate = 0;         // messages (or deliveries) per second
  double cpu_us = 0;       // server CPU per message (or delivery)
  double p50 = 0, p99 = 0; // latency, us
  double kib = 0;          // memory per connection
  double wire = 0;         // bytes on the wire per message received
};

struct Shape {
  int conns = 1;
  std::size_t in_flight = 1;
  bool binary = false;
  std::size_t size = 32;
  bool chat = false;
  bool timed = false; // latency: round trips (echo) or stamps at 50/s (chat)
  bool idle = false;
  bool deflate = false; // offer permessage-deflate; send chat-like text
  int rooms = 0;        // in rooms (topics), with a sender in each
  bool flood = false;   // one connection sends `size` B text without end
  int setups = 0;       // connections set up, `conns` at a time (Visits)
};

/// `total` visits, `at_once` at a time: connections set up per second and
/// the server's CPU time per connection, over the whole run.
Figures run_setups(Server &server, int total, int at_once) {
  Load load;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port);
  int running = at_once;
  std::vector<std::unique_ptr<Visits>> all;
  for (int i = 0; i < at_once; ++i)
    all.push_back(std::make_unique<Visits>(
        load, ep, total / at_once + (i < total % at_once), [&] { --running; }));
  const double cpu_before = server.cpu_seconds();
  const auto start = Clock::now();
  for (auto &v : all)
    v->start();
  while (running > 0 && Clock::now() - start < std::chrono::seconds(120))
    load.io.run_one_for(std::chrono::seconds(1));
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (running > 0)
    throw std::runtime_error("only " + std::to_string(load.received) + " of " +
                             std::to_string(total) + " visits ended");
  Figures f;
  f.rate = double(total) / elapsed;
  f.cpu_us = (server.cpu_seconds() - cpu_before) * 1e6 / total;
  return f;
}

/// One run of one scenario against one server.
template <class Stream>
Figures run_once(Server &server, const Shape &s, double seconds) {
  if (s.setups)
    return run_setups(server, s.setups, s.conns);
  Load load;
  load.deflate = s.deflate;
  load.rooms = s.rooms;
  if (s.idle) {
    const long before = server.rss_kib();
    load.counting = false;
    auto all = open_all<Stream>(load, server, s.conns);
    // With in_flight, each sends one compressed 1 KiB message first: what a
    // connection keeps once it has decompressed something.
    for (std::size_t k = 0; s.in_flight && k < all.size(); ++k)
      all[k]->send_frame(
          client_frame(false, deflated(chat_text(1024, unsigned(k))), true));
    load.io.run_for(std::chrono::milliseconds(500)); // the server settles
    Figures f;
    f.kib = double(server.rss_kib() - before) / s.conns;
    close_all(load, all);
    return f;
  }
  if (s.flood) {
    // A slow reader flooded: what it holds (its RSS growth) and how much the
    // kernel took from the sender (little, if TCP pushed back).
    load.counting = false;
    load.flood = true;
    load.frame = client_frame(false, std::string(s.size, 'x'));
    auto all = open_all<Stream>(load, server, 1);
    load.io.run_for(std::chrono::milliseconds(200));
    const long before = server.rss_kib();
    all[0]->start_flood();
    load.io.run_for(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(seconds)));
    Figures f;
    f.kib = double(server.rss_kib() - before);
    f.wire = double(load.flooded) / (1 << 20);
    close_all(load, all);
    return f;
  }
  load.read_size = s.size > 16384 ? 65536 : 16384;
  load.in_flight = s.in_flight;
  if (s.chat)
    load.senders = std::max(1, s.rooms);
  std::string payload(s.size, 'x');
  load.frame = client_frame(s.binary, payload);
  for (unsigned k = 0; s.deflate && k < 256; ++k)
    load.frames.push_back(
        client_frame(false, deflated(chat_text(s.size, k)), true));
  if (s.timed && s.chat) {
    load.counting = false; // the timer below sends
    load.stamped = true;
  } else if (s.timed) {
    load.round_trips = true;
  }
  auto all = open_all<Stream>(load, server, s.conns);
  load.started = true;
  for (auto &c : all)
    c->start_sending();
  // The timed broadcast: one stamped message every 20 ms.
  asio::steady_timer tick(load.io);
  std::function<void()> stamp = [&] {
    char text[32];
    std::snprintf(text, sizeof text, "t%020.0f", now_us());
    std::string p = text;
    p.resize(s.size, 'x');
    all[0]->send_frame(client_frame(false, p));
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait([&](asio::error_code ec) {
      if (!ec)
        stamp();
    });
  };
  if (s.timed && s.chat)
    stamp();
  // Warm up, then measure a window.
  load.io.run_for(std::chrono::milliseconds(300));
  load.samples.clear();
  const std::uint64_t before = load.received, wire_before = load.wire;
  const double cpu_before = server.cpu_seconds();
  const auto start = Clock::now();
  load.io.run_for(std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(seconds)));
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  const double messages = double(load.received - before);
  const double cpu = server.cpu_seconds() - cpu_before;
  tick.cancel();
  Figures f;
  f.rate = messages / elapsed;
  f.cpu_us = messages > 0 ? cpu * 1e6 / messages : 0;
  f.wire = messages > 0 ? double(load.wire - wire_before) / messages : 0;
  f.p50 = percentile(load.samples, 0.50);
  f.p99 = percentile(load.samples, 0.99);
  close_all(load, all);
  if (messages == 0)
    throw std::runtime_error("no message came back");
  return f;
}

struct Kind {
  std::string name;
  std::vector<std::string> echo, chat, env;
  std::vector<std::string> echo_env = {}; // more, for the echo server only
};

struct Options {
  int runs = 5;
  double seconds = 2;
  int idle = 10000;
  int clients = 1000;
  int setups = 20000; // connections set up one after another, 50 at a time
  int storm = 10000;  // clients in the restart storm
  std::vector<int> broadcast_series{100, 1000, 5000, 10000};
  std::vector<int> subscribers{1000, 10000}; // of one topic
  int topics = 100, per_topic = 100;
  std::vector<int> idle_series{1000, 5000, 10000, 20000};
  bool scaling = true, tls = true, shapes = true;
  std::string cert, key;
};

/// The storm after a restart, one run: `clients` ws::WebSocket clients with
/// reconnect on (its defaults: the first wait 0.5-1 s), open on a chat
/// server, which is then killed (SIGKILL: no close frame, as in a crash)
/// and started again on the same port. Clients offer no deflate, so every
/// server does the same work. Figures: seconds from the kill until every
/// client is open again (rate), attempts after the first per client (wire),
/// and clients that gave up (kib).
Figures run_storm(const Kind &kind, int clients, int cpu) {
  auto argv = kind.chat;
  auto port_at = std::find(argv.begin(), argv.end(), "--port");
  std::optional<Server> server(std::in_place, argv, kind.env, cpu);
  *(port_at + 1) = std::to_string(server->port);
  const std::string url =
      "ws://127.0.0.1:" + std::to_string(server->port) + "/";
  ws::ClientOptions options;
  options.reconnect.enabled = true;
  options.perMessageDeflate.enabled = false;
  std::vector<std::unique_ptr<ws::WebSocket>> all;
  // Per client: open now, and dropped by the kill (its first
  // `reconnecting` after it opened).
  std::vector<char> is_open(clients), dropped_once(clients);
  int open = 0, dropped = 0, gave_up = 0;
  long retries = 0;
  std::map<std::string, int> why; // the errors of attempts that failed
  for (int i = 0; i < clients; ++i) {
    auto &socket = *all.emplace_back(std::make_unique<ws::WebSocket>(
        url, std::vector<std::string>{}, options));
    socket.onopen = [&, i](const ws::Event &) {
      is_open[i] = 1;
      ++open;
    };
    socket.onerror = [&](const ws::ErrorEvent &e) { ++why[e.message]; };
    socket.onreconnecting = [&, i](const ws::ReconnectingEvent &e) {
      if (is_open[i]) {
        is_open[i] = 0;
        --open;
      }
      if (e.attempt == 1 && !dropped_once[i]) {
        dropped_once[i] = 1;
        ++dropped;
      } else {
        ++retries;
      }
    };
    socket.onclose = [&](const ws::CloseEvent &) { ++gave_up; };
    // A few hundred connecting at a time, as clients arrive in life.
    if (i % 256 == 255 &&
        !ws::runUntil([&] { return open > i - 256; }, std::chrono::seconds(60)))
      throw std::runtime_error("the clients did not all open");
  }
  if (!ws::runUntil([&] { return open == clients; }, std::chrono::seconds(60)))
    throw std::runtime_error("the clients did not all open");
  const auto killed = Clock::now();
  server.reset(); // SIGKILL
  server.emplace(argv, kind.env, cpu);
  const bool back =
      ws::runUntil([&] { return dropped == clients && open == clients; },
                   std::chrono::seconds(120));
  Figures f;
  f.rate = std::chrono::duration<double>(Clock::now() - killed).count();
  f.wire = double(retries) / clients;
  f.kib = gave_up;
  for (const auto &[message, count] : why)
    std::cerr << "bench: storm: " << kind.name << ": " << count
              << " attempts failed: " << message << "\n";
  for (auto &socket : all) {
    socket->onclose = nullptr;
    socket->onerror = nullptr;
    socket->close();
  }
  ws::runUntil([&] { return false; }, std::chrono::milliseconds(500));
  all.clear();
  if (!back)
    throw std::runtime_error(std::to_string(clients - open) +
                             " clients were not open again after 120 s (" +
                             std::to_string(gave_up) + " gave up, " +
                             std::to_string(clients - dropped) +
                             " never saw the drop)");
  return f;
}

/// The medians of `runs` runs per kind, the kinds alternating within each
/// run. A kind that fails (a server that cannot hold the load) gets none.
std::vector<std::vector<Figures>> measure(const std::vector<Kind> &kinds,
                                          const Shape &shape, const Options &o,
                                          bool pin, bool secure = false) {
  std::vector<std::vector<Figures>> all(kinds.size());
  std::vector<bool> failed(kinds.size());
  for (int r = 0; r < o.runs; ++r)
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      if (failed[k])
        continue;
      auto argv = shape.chat ? kinds[k].chat : kinds[k].echo;
      if (secure)
        argv.insert(argv.end(), {"--cert", o.cert, "--key", o.key});
      try {
        auto env = kinds[k].env;
        if (!shape.chat)
          env.insert(env.end(), kinds[k].echo_env.begin(),
                     kinds[k].echo_env.end());
        Server server(argv, env, pin ? 0 : -1);
        all[k].push_back(secure
                             ? run_once<asio::ssl::stream<tcp::socket>>(
                                   server, shape, o.seconds)
                             : run_once<tcp::socket>(server, shape, o.seconds));
      } catch (const std::exception &e) {
        std::cerr << "bench: " << kinds[k].name << ": " << e.what() << "\n";
        failed[k] = true;
        all[k].clear();
      }
    }
  return all;
}

double med(const std::vector<Figures> &runs, double Figures::*field) {
  std::vector<double> v;
  for (const auto &f : runs)
    v.push_back(f.*field);
  return median(v);
}

std::string fmt(double v, int digits = 0) {
  char s[64];
  std::snprintf(s, sizeof s, "%.*f", digits, v);
  return s;
}

/// A table row: the figure for each kind, and each one's ratio to the first
/// (the baseline).
std::string row(const std::string &label,
                const std::vector<std::vector<Figures>> &all,
                double Figures::*field, int digits) {
  std::string line = "| " + label + " |";
  const double base = med(all[0], field);
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (all[k].empty()) {
      line += " failed |" + std::string(k ? " |" : "");
      continue;
    }
    const double v = med(all[k], field);
    line += " " + fmt(v, digits) + " |";
    if (k > 0)
      line +=
          " " + (base > 0 ? fmt(v / base, 2) + "x" : std::string("-")) + " |";
  }
  return line + "\n";
}

std::string header(const std::vector<Kind> &kinds, const std::string &first) {
  std::string h = "| " + first + " | " + kinds[0].name + " |";
  std::string rule = "| --- | ---: |";
  for (std::size_t k = 1; k < kinds.size(); ++k) {
    h += " " + kinds[k].name + " | " + kinds[k].name + " / " + kinds[0].name +
         " |";
    rule += " ---: | ---: |";
  }
  return h + "\n" + rule + "\n";
}

/// A line chart of one series per kind, x on a log scale.
std::string svg_panel(double x0, double y0, const std::string &title,
                      const std::string &y_label, const std::vector<int> &xs,
                      const std::vector<std::vector<double>> &series,
                      const std::vector<Kind> &kinds) {
  const char *colors[] = {"#888888", "#1f77b4", "#2ca02c", "#d62728"};
  const double w = 420, h = 260, left = 70, bottom = 40;
  double ymax = 0;
  for (const auto &s : series)
    for (double v : s)
      ymax = std::max(ymax, v);
  ymax = ymax > 0 ? ymax * 1.1 : 1;
  auto px = [&](std::size_t i) {
    const double lo = std::log10(xs.front()), hi = std::log10(xs.back());
    return x0 + left +
           (hi > lo ? (std::log10(xs[i]) - lo) / (hi - lo) : 0.5) *
               (w - left - 20);
  };
  auto py = [&](double v) { return y0 + h - bottom - v / ymax * (h - 70); };
  std::ostringstream s;
  s << "<text x='" << x0 + w / 2 << "' y='" << y0 + 20
    << "' text-anchor='middle' font-weight='bold'>" << title << "</text>\n";
  s << "<text x='" << x0 + 15 << "' y='" << y0 + h / 2
    << "' transform='rotate(-90 " << x0 + 15 << " " << y0 + h / 2
    << ")' text-anchor='middle'>" << y_label << "</text>\n";
  s << "<line x1='" << x0 + left << "' y1='" << py(0) << "' x2='" << x0 + w - 10
    << "' y2='" << py(0) << "' stroke='black'/>\n";
  s << "<line x1='" << x0 + left << "' y1='" << py(0) << "' x2='" << x0 + left
    << "' y2='" << y0 + 30 << "' stroke='black'/>\n";
  for (int t = 0; t <= 4; ++t) {
    const double v = ymax / 1.1 * t / 4;
    s << "<text x='" << x0 + left - 5 << "' y='" << py(v) + 4
      << "' text-anchor='end'>" << fmt(v, v < 100 ? 1 : 0) << "</text>\n";
  }
  for (std::size_t i = 0; i < xs.size(); ++i)
    s << "<text x='" << px(i) << "' y='" << py(0) + 16
      << "' text-anchor='middle'>" << xs[i] << "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    std::string points;
    for (std::size_t i = 0; i < series[k].size(); ++i)
      if (series[k][i] > 0)
        points += fmt(px(i), 1) + "," + fmt(py(series[k][i]), 1) + " ";
    s << "<polyline fill='none' stroke-width='2' stroke='" << colors[k % 4]
      << "' points='" << points << "'/>\n";
    s << "<text x='" << x0 + left + 10 << "' y='" << y0 + 40 + 16 * k
      << "' fill='" << colors[k % 4] << "'>" << kinds[k].name << "</text>\n";
  }
  return s.str();
}

} // namespace

int main(int argc, char **argv) {
  const char *usage =
      "usage: bench --baseline BASELINE_SERVER --echo ECHO_SERVER --chat "
      "CHAT_SERVER\n"
      "             [--node INTEROP_DIR --js EXAMPLES_JS_DIR] [--runs N]\n"
      "             [--seconds S] [--idle N] [--clients N] [--quick]\n"
      "             [--no-scaling] [--no-tls] [--out DIR]\n"
      "             [--stream STREAM_SERVER [--flood-seconds S]]\n";
  std::map<std::string, std::string> flag;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (f == "--quick") { // the test suite's smoke run
      o.broadcast_series = {10, 20};
      o.idle_series = {10, 20};
      o.subscribers = {10, 20};
      o.topics = 4;
      o.per_topic = 5;
      o.setups = 200;
      o.storm = 20;
      o.shapes = false;
    } else if (f == "--no-scaling") {
      o.scaling = false;
    } else if (f == "--no-tls") {
      o.tls = false;
    } else if (i + 1 < argc && f.rfind("--", 0) == 0) {
      flag[f.substr(2)] = argv[++i];
    } else {
      std::cerr << usage;
      return 2;
    }
  }
  if (!flag.count("baseline") || !flag.count("echo") || !flag.count("chat")) {
    std::cerr << usage;
    return 2;
  }
  if (flag.count("runs"))
    o.runs = std::stoi(flag["runs"]);
  if (flag.count("seconds"))
    o.seconds = std::stod(flag["seconds"]);
  if (flag.count("idle"))
    o.idle = std::stoi(flag["idle"]);
  if (flag.count("clients"))
    o.clients = std::stoi(flag["clients"]);
  if (flag.count("setups"))
    o.setups = std::stoi(flag["setups"]);
  if (flag.count("storm"))
    o.storm = std::stoi(flag["storm"]);

  // Thousands of sockets on each side; the servers inherit the limit.
  // (Root may go past the hard limit; 20,000 idle connections need more
  // than 20,000 descriptors here.)
  rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  const rlimit wanted{65536, 65536};
  if (files.rlim_max >= wanted.rlim_max || setrlimit(RLIMIT_NOFILE, &wanted)) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // Servers on core 0, generator on core 1, when there are two.
  const bool pin = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  if (pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    sched_setaffinity(0, sizeof set, &set);
  }

  const std::vector<std::string> local = {"--port", "0", "--host", "127.0.0.1"};
  auto with = [&](std::vector<std::string> v,
                  std::vector<std::string> more = {}) {
    v.insert(v.end(), local.begin(), local.end());
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  std::vector<Kind> kinds = {
      {"websocketpp",
       with({flag["baseline"]}),
       with({flag["baseline"]}, {"--chat"}),
       {}},
      {"ws", with({flag["echo"]}), with({flag["chat"]}), {}},
  };
  if (flag.count("node") && flag.count("js")) {
    const std::string modules = flag["node"] + "/node_modules";
    if (std::ifstream(modules + "/ws/package.json") &&
        std::system("node --version >/dev/null 2>&1") == 0)
      kinds.push_back({"Node ws",
                       {"node", flag["node"] + "/echo_server.js"},
                       with({"node", flag["js"] + "/chat_server.js"}),
                       {"NODE_PATH=" + modules}});
    else
      std::cerr << "bench: Node ws left out (no node, or no " << modules
                << "/ws: npm ci in " << flag["node"] << ")\n";
  }

  std::ostringstream out;
  out << "Medians of " << o.runs << " runs of " << o.seconds
      << " s, the servers alternating within each run"
      << (pin ? "; each server pinned to core 0, the generator to core 1" : "")
      << ". A ratio is to " << kinds[0].name
      << ": over 1 is faster for rates, over 1 is worse for CPU time, "
         "latency and memory.\n\n";
  out << header(kinds, "scenario");
  auto show = [&](const std::string &label, const Shape &shape,
                  double Figures::*field, int digits) {
    auto all = measure(kinds, shape, o, pin);
    out << row(label, all, field, digits);
    std::cerr << "bench: " << label << " done\n";
    return all;
  };
  // --only NAME runs one scenario (for profiling): echo, latency, large,
  // topics, broadcast, timed, setup, storm or idle.
  auto want = [&](const char *name) {
    return !flag.count("only") || flag["only"] == name;
  };
  Shape echo{100, 16, false, 32};
  // For profiling one shape: --only echo --conns N --in-flight N --size N.
  if (flag.count("conns"))
    echo.conns = std::stoi(flag["conns"]);
  if (flag.count("in-flight"))
    echo.in_flight = std::stoul(flag["in-flight"]);
  if (flag.count("size"))
    echo.size = std::stoul(flag["size"]);
  if (want("echo")) {
    auto e = measure(kinds, echo, o, pin);
    out << row("echo 100 x 16 x 32 B: messages/s", e, &Figures::rate, 0);
    out << row("echo: server CPU per message (us)", e, &Figures::cpu_us, 2);
  }
  if (want("latency")) {
    Shape rtt{1, 1, false, 32, false, true};
    auto l = measure(kinds, rtt, o, pin);
    out << row("latency 1 x 1 x 32 B: round trip p50 (us)", l, &Figures::p50,
               1);
    out << row("latency: round trip p99 (us)", l, &Figures::p99, 1);
  }
  Shape large{10, 4, true, 65536};
  if (want("large")) {
    auto g = measure(kinds, large, o, pin);
    out << row("echo 10 x 4 x 64 KiB: messages/s", g, &Figures::rate, 0);
    out << row("64 KiB: server CPU per message (us)", g, &Figures::cpu_us, 1);
  }
  const std::string n = std::to_string(o.clients);
  if (want("broadcast")) {
    Shape chat{o.clients + 1, 16, false, 64, true};
    auto b = measure(kinds, chat, o, pin);
    out << row("broadcast 64 B to " + n + ": deliveries/s", b, &Figures::rate,
               0);
    out << row("broadcast: server CPU per delivery (us)", b, &Figures::cpu_us,
               3);
  }
  // websocketpp can frame a broadcast once too (a prepared message sent to
  // every socket): the fair baseline for our broadcast, which frames once.
  std::ostringstream once, storm;
  if (want("broadcast")) {
    const std::vector<Kind> framed_once = {
        {"websocketpp prepared",
         {},
         with({flag["baseline"]}, {"--chat", "--prepared"}),
         {}},
        kinds[1]};
    once << "\nFraming once, both ways (medians of " << o.runs
         << " runs): websocketpp sending one prepared message to every "
            "socket, against ws:\n\n"
         << header(framed_once, "scenario");
    for (std::size_t size : {64, 1024}) {
      Shape chat{o.clients + 1, 16, false, size, true};
      auto b = measure(framed_once, chat, o, pin);
      const std::string label = "broadcast " +
                                (size < 1024 ? "64 B" : std::string("1 KiB")) +
                                " to " + n;
      once << row(label + ": deliveries/s", b, &Figures::rate, 0)
           << row(label + ": CPU per delivery (us)", b, &Figures::cpu_us, 3);
      std::cerr << "bench: " << label << " framed once done\n";
    }
  }
  if (want("timed")) {
    Shape timed{o.clients + 1, 0, false, 64, true, true};
    auto t = measure(kinds, timed, o, pin);
    out << row("broadcast at 50/s to " + n + ": delivery p50 (us)", t,
               &Figures::p50, 0);
    out << row("broadcast at 50/s: delivery p99 (us)", t, &Figures::p99, 0);
  }
  if (want("setup")) {
    // A restart's storm: what setting up a connection costs the server.
    Shape setup;
    setup.conns = 50;
    setup.setups = o.setups;
    auto c = measure(kinds, setup, o, pin);
    const std::string n = std::to_string(o.setups);
    out << row("set up " + n + " connections, 50 at a time: connections/s", c,
               &Figures::rate, 0);
    out << row("set up: server CPU per connection (us)", c, &Figures::cpu_us,
               1);
    std::cerr << "bench: set up done\n";
  }
  if (want("storm") && o.storm > 0) {
    // The storm itself: chat servers, since a chat is what restarts with
    // every client still there.
    std::vector<std::vector<Figures>> all(kinds.size() - 1);
    std::vector<bool> failed(kinds.size());
    for (int r = 0; r < std::min(o.runs, 3); ++r)
      for (std::size_t k = 1; k < kinds.size(); ++k) {
        if (failed[k])
          continue;
        try {
          all[k - 1].push_back(run_storm(kinds[k], o.storm, pin ? 0 : -1));
        } catch (const std::exception &e) {
          std::cerr << "bench: storm: " << kinds[k].name << ": " << e.what()
                    << "\n";
          failed[k] = true;
          all[k - 1].clear();
        }
      }
    const std::vector<Kind> servers(kinds.begin() + 1, kinds.end());
    storm << "\nThe storm after a restart (medians of " << std::min(o.runs, 3)
          << " runs): " << o.storm
          << " ws::WebSocket clients with reconnect on (default waits), open "
             "on a chat server that is killed and started again on its "
             "port; a ratio is to "
          << servers[0].name << ":\n\n"
          << header(servers, "scenario")
          << row("from the kill until every client is open again (s)", all,
                 &Figures::rate, 2)
          << row("attempts after the first, per client", all, &Figures::wire, 2)
          << row("clients that gave up", all, &Figures::kib, 0);
    std::cerr << "bench: storm done\n";
  }
  Shape idle{o.idle, 0, false, 0, false, false, true};
  if (want("idle"))
    show("idle memory per connection, " + std::to_string(o.idle) +
             " open (KiB)",
         idle, &Figures::kib, 1);

  out << once.str() << storm.str();
  if (o.shapes && (!flag.count("only") || want("shapes"))) {
    // A second way of measuring: the same servers under other loads (no
    // pipelining, many connections, deeper pipelines, larger and binary
    // messages, larger broadcasts), so no figure rests on one generator's
    // shape alone.
    Options few = o;
    few.runs = std::min(o.runs, 3);
    out << "\nOther shapes (medians of " << few.runs
        << " runs; conns x in flight x size):\n\n"
        << header(kinds, "scenario");
    const std::vector<std::pair<std::string, Shape>> shapes = {
        {"echo 10 x 1 x 32 B", {10, 1, false, 32}},
        {"echo 1000 x 4 x 32 B", {1000, 4, false, 32}},
        {"echo 100 x 64 x 32 B", {100, 64, false, 32}},
        {"echo 100 x 16 x 1 KiB text", {100, 16, false, 1024}},
        {"echo 100 x 16 x 4 KiB binary", {100, 16, true, 4096}},
        {"broadcast 1 KiB to 1000", {1001, 16, false, 1024, true}},
    };
    for (const auto &[label, shape] : shapes) {
      auto all = measure(kinds, shape, few, pin);
      const bool bc = shape.chat;
      out << row(label + (bc ? ": deliveries/s" : ": messages/s"), all,
                 &Figures::rate, 0);
      out << row(label + (bc ? ": CPU per delivery (us)"
                             : ": CPU per "
                               "message (us)"),
                 all, &Figures::cpu_us, 2);
      std::cerr << "bench: " << label << " done\n";
    }
  }

  if (o.scaling && !flag.count("only")) {
    // Fewer runs: the series shows how cost grows, not small differences.
    Options few = o;
    few.runs = std::min(o.runs, 3);
    std::vector<std::vector<double>> rates(kinds.size()), kib(kinds.size());
    out << "\nScaling (medians of " << few.runs << " runs):\n\n"
        << header(kinds, "clients");
    for (int c : o.broadcast_series) {
      auto all = measure(kinds, {c + 1, 16, false, 64, true}, few, pin);
      out << row("broadcast to " + std::to_string(c) + ": deliveries/s", all,
                 &Figures::rate, 0);
      for (std::size_t k = 0; k < kinds.size(); ++k)
        rates[k].push_back(all[k].empty() ? 0 : med(all[k], &Figures::rate));
      std::cerr << "bench: broadcast to " << c << " done\n";
    }
    // The generator holds one descriptor per connection: a point past its
    // limit is measured at the limit (less a margin) and labelled so.
    for (int &c : o.idle_series)
      c = std::min<long>(c, long(files.rlim_cur) - 100);
    for (int c : o.idle_series) {
      auto all = measure(kinds, {c, 0, false, 0, false, false, true}, few, pin);
      out << row(std::to_string(c) + " idle: KiB per connection", all,
                 &Figures::kib, 1);
      for (std::size_t k = 0; k < kinds.size(); ++k)
        kib[k].push_back(all[k].empty() ? 0 : med(all[k], &Figures::kib));
      std::cerr << "bench: " << c << " idle done\n";
    }
    if (flag.count("out")) {
      std::ofstream svg(flag["out"] + "/scaling.svg");
      svg << "<svg xmlns='http://www.w3.org/2000/svg' width='860' "
             "height='280' font-family='sans-serif' font-size='12'>\n"
             "<rect width='860' height='280' fill='white'/>\n"
          << svg_panel(0, 0, "broadcast 64 B: deliveries/s", "deliveries/s",
                       o.broadcast_series, rates, kinds)
          << svg_panel(430, 0, "idle: server memory per connection", "KiB",
                       o.idle_series, kib, kinds)
          << "<text x='215' y='275' text-anchor='middle'>clients</text>\n"
             "<text x='645' y='275' text-anchor='middle'>open "
             "connections</text>\n</svg>\n";
    }
  }

  if (flag.count("topics") && (!flag.count("only") || want("topics"))) {
    // Topics: the same program publishing and broadcasting, and Node's ws
    // with rooms kept by hand. A publish should cost what a broadcast to as
    // many sockets does.
    std::vector<Kind> rooms = {
        {"ws broadcast", {}, with({flag["topics"]}, {"--broadcast"}), {}},
        {"ws publish", {}, with({flag["topics"]}), {}}};
    if (kinds.back().name == "Node ws")
      rooms.push_back(
          {"Node ws by hand", {}, kinds.back().chat, kinds.back().env});
    Options few = o;
    few.runs = std::min(o.runs, 3);
    out << "\nTopics (medians of " << few.runs
        << " runs; 64 B text, 16 in flight per sender): ws::Server::publish "
           "against ws::Server::broadcast to as many sockets, and Node's ws "
           "keeping rooms by hand:\n\n"
        << header(rooms, "scenario");
    auto rows = [&](const std::string &label,
                    const std::vector<std::vector<Figures>> &all) {
      out << row(label + ": deliveries/s", all, &Figures::rate, 0)
          << row(label + ": CPU per delivery (us)", all, &Figures::cpu_us, 3);
      std::cerr << "bench: " << label << " done\n";
    };
    for (int n : o.subscribers) {
      Shape one{n + 1, 16, false, 64, true};
      one.rooms = 1;
      rows("one topic, " + std::to_string(n) + " subscribers",
           measure(rooms, one, few, pin));
    }
    // Many topics, one sender in each. (A broadcast with a sender per topic
    // would send each message to every socket, and each sender would get a
    // hundred times its own.) Two references: one message broadcast to the
    // same sockets (as many deliveries as one publish to each topic), and a
    // server holding one topic's worth of sockets, broadcasting to them (as
    // many deliveries per message, with far fewer sockets to go round).
    const int all_sockets = o.topics * o.per_topic;
    Shape many{all_sockets, 16, false, 64, true};
    many.rooms = o.topics;
    auto published = measure({rooms.begin() + 1, rooms.end()}, many, few, pin);
    const std::string label =
        std::to_string(o.topics) + " topics x " + std::to_string(o.per_topic);
    for (int sockets : {all_sockets, o.per_topic}) {
      Shape reference{sockets, 16, false, 64, true};
      reference.rooms = 1;
      auto all = published;
      all.insert(all.begin(), measure({rooms[0]}, reference, few, pin)[0]);
      rows(label + " (broadcast: to " + std::to_string(sockets) +
               (sockets == all_sockets ? ", the same sockets)"
                                       : ", a server of that many)"),
           all);
    }
  }

  if (!flag.count("only") || want("deflate")) {
    // The same servers with permessage-deflate on: websocketpp's own
    // extension (which compresses each broadcast once per recipient), ours,
    // and Node's with its defaults.
    std::vector<Kind> packed;
    for (const auto &k : kinds) {
      Kind d = k;
      d.name = k.name + " deflate";
      if (k.name == "Node ws") {
        d.echo_env = {"DEFLATE=1"};
      } else {
        d.echo.push_back("--deflate");
      }
      d.chat.push_back("--deflate");
      packed.push_back(d);
    }
    Options few = o;
    few.runs = std::min(o.runs, 3);
    out << "\npermessage-deflate on in every server (medians of " << few.runs
        << " runs; chat-like text, each client message compressed alone):\n\n"
        << header(packed, "scenario");
    Shape echo_d{100, 16, false, 1024};
    echo_d.deflate = true;
    auto e = measure(packed, echo_d, few, pin);
    out << row("echo 100 x 16 x 1 KiB text: messages/s", e, &Figures::rate, 0)
        << row("echo 1 KiB: server CPU per message (us)", e, &Figures::cpu_us,
               2)
        << row("echo 1 KiB: bytes on the wire per message", e, &Figures::wire,
               0);
    for (std::size_t size : {std::size_t(64), std::size_t(1024)}) {
      Shape chat{o.clients + 1, 16, false, size, true};
      chat.deflate = true;
      auto b = measure(packed, chat, few, pin);
      const std::string label = "broadcast " +
                                (size < 1024 ? std::string("64 B") : "1 KiB") +
                                " text to " + n;
      out << row(label + ": deliveries/s", b, &Figures::rate, 0)
          << row(label + ": CPU per delivery (us)", b, &Figures::cpu_us, 3)
          << row(label + ": bytes on the wire per delivery", b, &Figures::wire,
                 0);
      std::cerr << "bench: deflate " << label << " done\n";
    }
    Shape idle_d{o.idle, 0, false, 0, false, false, true};
    idle_d.deflate = true;
    out << row("idle, deflate agreed: memory per connection, " +
                   std::to_string(o.idle) + " open (KiB)",
               measure(packed, idle_d, few, pin), &Figures::kib, 1);
    idle_d.in_flight = 1;
    out << row("the same after one 1 KiB message each (KiB)",
               measure(packed, idle_d, few, pin), &Figures::kib, 1);
    std::cerr << "bench: deflate done\n";
  }

  if (o.tls && !flag.count("only")) {
    // A throw-away certificate for ws over wss:// (made by the openssl
    // program, which Debian's ca-certificates package depends on).
    char dir[] = "/tmp/ws-bench-XXXXXX";
    if (!mkdtemp(dir))
      return 1;
    o.cert = std::string(dir) + "/cert.pem";
    o.key = std::string(dir) + "/key.pem";
    const std::string make_cert =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=127.0.0.1 -days 1 -keyout " +
        o.key + " -out " + o.cert + " 2>/dev/null";
    if (std::system(make_cert.c_str()) != 0) {
      std::cerr << "bench: openssl could not make a certificate\n";
      return 1;
    }
    std::vector<Kind> ours = {kinds[1]};
    out << "\nWhat TLS costs ws (TLS 1.3, P-256; ws:// and wss:// "
           "alternating):\n\n"
           "| scenario | ws:// | wss:// | wss / ws |\n"
           "| --- | ---: | ---: | ---: |\n";
    auto both = [&](const std::string &label, const Shape &s,
                    double Figures::*field, int digits) {
      auto plain = measure(ours, s, o, pin, false);
      auto tls = measure(ours, s, o, pin, true);
      if (plain[0].empty() || tls[0].empty())
        return;
      const double a = med(plain[0], field), c = med(tls[0], field);
      out << "| " << label << " | " << fmt(a, digits) << " | " << fmt(c, digits)
          << " | " << fmt(c / a, 2) << "x |\n";
    };
    both("echo 100 x 16 x 32 B: messages/s", echo, &Figures::rate, 0);
    both("echo 10 x 4 x 64 KiB: messages/s", large, &Figures::rate, 0);
    both("idle memory per connection, " + std::to_string(o.idle) +
             " open (KiB)",
         idle, &Figures::kib, 1);
    std::system(("rm -rf " + std::string(dir)).c_str());
  }

  if (flag.count("stream") && (!flag.count("only") || want("stream"))) {
    // WebSocketStream (C++20): one coroutine per connection reading and
    // awaiting each write, against echo_server's onmessage. stream_server
    // --events is the event API built as stream_server is (on g++ 12 both
    // link ws-compiled): the stream's own cost is their ratio.
    const std::string stream = flag["stream"];
    const std::vector<Kind> echoes = {
        {"ws echo_server", with({flag["echo"]}), {}, {}},
        {"ws events, same build", with({stream}, {"--events"}), {}, {}},
        {"ws WebSocketStream", with({stream}), {}, {}},
        {"WebSocketStream pipeTo", with({stream}, {"--pipelined"}), {}, {}},
    };
    out << "\nWebSocketStream (medians of " << o.runs
        << " runs): echo through one coroutine per connection, each write "
           "awaited (pipeTo: readable.pipeTo(writable), writableHighWaterMark "
           "64), "
           "against the event API:\n\n"
        << header(echoes, "scenario");
    auto e = measure(echoes, echo, o, pin);
    out << row("echo 100 x 16 x 32 B: messages/s", e, &Figures::rate, 0)
        << row("echo: server CPU per message (us)", e, &Figures::cpu_us, 2);
    auto g = measure(echoes, large, o, pin);
    out << row("echo 10 x 4 x 64 KiB: messages/s", g, &Figures::rate, 0)
        << row("64 KiB: server CPU per message (us)", g, &Figures::cpu_us, 1);
    std::cerr << "bench: stream echo done\n";

    // The slow reader: one message every 10 ms, flooded with 1 KiB text.
    const std::string ms = "10";
    std::vector<Kind> slow = {
        {"ws WebSocketStream", with({stream}, {"--slow", ms}), {}, {}},
        {"ws pause()/resume()", with({stream}, {"--slow-events", ms}), {}, {}},
        {"ws, no backpressure",
         with({stream}, {"--slow-unpaused", ms}),
         {},
         {}},
    };
    if (kinds.back().name == "Node ws") {
      const std::string js = flag["node"] + "/slow_reader.js";
      slow.push_back(
          {"Node ws pause()/resume()", {"node", js, ms}, {}, kinds.back().env});
      slow.push_back({"Node ws, no backpressure",
                      {"node", js, ms, "--unpaused"},
                      {},
                      kinds.back().env});
    }
    Options flood = o;
    flood.runs = std::min(o.runs, 3);
    flood.seconds = flag.count("flood-seconds")
                        ? std::stod(flag["flood-seconds"])
                        : std::max(o.seconds, 10.0);
    if (o.seconds < 1) // the smoke run
      flood.seconds = std::min(flood.seconds, 0.5);
    Shape flooded{1, 0, false, 1024};
    flooded.flood = true;
    auto f = measure(slow, flooded, flood, pin);
    out << "\nA slow reader (one message per " << ms << " ms) flooded with "
        << "1 KiB text for " << flood.seconds << " s (medians of " << flood.runs
        << " runs):\n\n"
        << header(slow, "scenario")
        << row("server RSS growth (KiB)", f, &Figures::kib, 0)
        << row("taken by the kernel from the sender (MiB)", f, &Figures::wire,
               1);
    std::cerr << "bench: slow readers done\n";
  }

  std::cout << out.str();
  if (flag.count("out"))
    std::ofstream(flag["out"] + "/bench.md") << out.str();
  // A kind that failed a scenario is in the table as "failed"; the smoke
  // test wants every figure.
  return out.str().find("failed") == std::string::npos ? 0 : 1;
}
