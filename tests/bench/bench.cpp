// The benchmark: runs our echo_server as a separate process pinned to one
// core, drives it from a load generator of its own on the other core, and
// prints a Markdown table of medians. Scenarios, each over ws:// and wss://:
//   echo   100 connections x 16 messages in flight x 32 B text
//   large  10 connections x 4 in flight x 64 KiB binary
//   idle   1,000 open connections: the server's memory per connection
//   broadcast (with --chat) chat_server relaying one sender's 64 B messages
//          to 1,000 clients: deliveries per second
//
//   bench ECHO_SERVER [--chat CHAT_SERVER] [--runs N] [--seconds S]
//         [--out FILE] [--idle N]
//
// The generator is not the library under test: plain Asio on one thread, a
// real upgrade handshake, masked frames built once and written back to back
// (pipelined), TLS through asio::ssl. The mask key is fixed: fine for load,
// not for a real client.
// SPDX-License-Identifier: MIT
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
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

// --- the server under test, as a child process --------------------------

struct Server {
  pid_t pid = -1;
  std::uint16_t port = 0;

  Server(const std::vector<std::string> &argv, int cpu) {
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
      dup2(out[1], 1);
      close(out[0]);
      std::vector<char *> args;
      for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n')
      line += c;
    close(out[0]);
    const auto colon = line.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("server did not start: " + line);
    port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  }
  ~Server() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
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
std::string client_frame(bool binary, std::size_t size) {
  std::string f;
  f += static_cast<char>(0x80 | (binary ? 2 : 1));
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
    f += static_cast<char>('x' ^ mask[i % 4]);
  return f;
}

struct Load {
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  bool secure = false;
  std::string frame;          // what every send writes
  std::size_t in_flight = 0;  // per sending connection
  int senders = -1;           // the first N connections send; -1: all
  std::uint64_t received = 0; // whole messages back
  bool counting = true;       // false: open and stay idle
};

template <class Stream> class Conn {
public:
  template <class... A>
  Conn(Load &load, int index, A &&...args)
      : load_(load), index_(index), stream_(std::forward<A>(args)...) {}

  /// Ends the connection; its pending operations complete, aborted.
  void stop() {
    stopped_ = true;
    asio::error_code ignored;
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

private:
  Load &load_;
  int index_;
  Stream stream_;
  std::function<void()> ready_;
  std::string in_;
  std::size_t parsed_ = 0;
  std::string out_;
  std::size_t to_send_ = 0;
  bool writing_ = false;
  bool stopped_ = false;
  char buf_[65536];

  tcp::socket &lowest() {
    if constexpr (std::is_same_v<Stream, tcp::socket>)
      return stream_;
    else
      return stream_.next_layer();
  }
  static void check(asio::error_code ec, const char *what) {
    if (ec)
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
    out_ = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    asio::async_write(stream_, asio::buffer(out_),
                      [this](asio::error_code ec, std::size_t) {
                        check(ec, "upgrade request");
                        read_response();
                      });
  }
  void read_response() {
    stream_.async_read_some(
        asio::buffer(buf_), [this](asio::error_code ec, std::size_t n) {
          check(ec, "upgrade response");
          in_.append(buf_, n);
          const auto end = in_.find("\r\n\r\n");
          if (end == std::string::npos)
            return read_response();
          if (in_.rfind("HTTP/1.1 101", 0) != 0)
            throw std::runtime_error("upgrade refused: " + in_.substr(0, 40));
          in_.erase(0, end + 4);
          ready_();
          read();
          if (load_.counting && (load_.senders < 0 || index_ < load_.senders))
            send(load_.in_flight);
        });
  }
  void send(std::size_t n) {
    to_send_ += n;
    if (writing_ || to_send_ == 0)
      return;
    out_.clear();
    for (; to_send_ > 0; --to_send_)
      out_ += load_.frame;
    writing_ = true;
    asio::async_write(stream_, asio::buffer(out_),
                      [this](asio::error_code ec, std::size_t) {
                        if (stopped_)
                          return;
                        check(ec, "write");
                        writing_ = false;
                        send(0);
                      });
  }
  void read() {
    stream_.async_read_some(
        asio::buffer(buf_), [this](asio::error_code ec, std::size_t n) {
          if (ec)
            return; // the run is over and the server gone
          in_.append(buf_, n);
          std::size_t whole = 0;
          for (;;) { // server frames: unmasked, one per message here
            const std::size_t avail = in_.size() - parsed_;
            if (avail < 2)
              break;
            const auto *p =
                reinterpret_cast<const unsigned char *>(in_.data() + parsed_);
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
            parsed_ += head + len;
            ++whole;
          }
          in_.erase(0, parsed_);
          parsed_ = 0;
          load_.received += whole;
          if (load_.senders < 0 || index_ < load_.senders)
            send(whole); // keep the window full
          read();
        });
  }
};

struct Result {
  double per_second = 0;
  double cpu_us_per_message = 0;
};

/// Opens `conns` connections and completes their upgrades, at most 256 at a
/// time: a server given thousands of TLS handshakes at once lets the last
/// ones wait past its handshake timeout.
template <class Stream>
std::vector<std::unique_ptr<Conn<Stream>>> open_all(Load &load, Server &server,
                                                    int conns) {
  std::vector<std::unique_ptr<Conn<Stream>>> all;
  int ready = 0;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port);
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
    load.io.run_one();
  }
  return all;
}

/// Stops every connection and lets their aborted operations finish before
/// they go.
template <class Conns> void close_all(Load &load, Conns &all) {
  for (auto &c : all)
    c->stop();
  load.io.restart();
  load.io.run();
  all.clear();
}

/// Opens `conns` connections, then counts echoes for `seconds`.
template <class Stream>
Result drive(Load &load, Server &server, int conns, double seconds) {
  auto all = open_all<Stream>(load, server, conns);
  // Warm up, then measure a window.
  load.io.run_for(std::chrono::milliseconds(200));
  const std::uint64_t before = load.received;
  const double cpu_before = server.cpu_seconds();
  const auto start = Clock::now();
  load.io.run_for(std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(seconds)));
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  const double messages = double(load.received - before);
  const double cpu = server.cpu_seconds() - cpu_before;
  close_all(load, all);
  return {messages / elapsed, messages > 0 ? cpu * 1e6 / messages : 0};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Scenario {
  std::string name;
  int conns;
  std::size_t in_flight;
  bool binary;
  std::size_t size;
  bool chat = false; // chat_server, one sender: deliveries count
};

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: bench ECHO_SERVER [--chat CHAT_SERVER] [--runs N] "
                 "[--seconds S] [--out FILE] [--idle N]\n";
    return 2;
  }
  const std::string echo_server = argv[1];
  int runs = 5, idle = 1000;
  double seconds = 2;
  std::string out_file, chat_server;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs")
      runs = std::stoi(argv[i + 1]);
    else if (flag == "--seconds")
      seconds = std::stod(argv[i + 1]);
    else if (flag == "--out")
      out_file = argv[i + 1];
    else if (flag == "--idle")
      idle = std::stoi(argv[i + 1]);
    else if (flag == "--chat")
      chat_server = argv[i + 1];
  }
  // Idle runs hold a socket per connection on each side.
  rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  // Server on core 0, generator on core 1, when there are two.
  const bool pin = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  if (pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    sched_setaffinity(0, sizeof set, &set);
  }

  // A throw-away certificate for the wss:// runs (made by the openssl
  // program, which Debian's ca-certificates package depends on).
  char dir[] = "/tmp/ws-bench-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  const std::string cert = std::string(dir) + "/cert.pem",
                    key = std::string(dir) + "/key.pem";
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=127.0.0.1 -days 1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  if (std::system(make_cert.c_str()) != 0) {
    std::cerr << "bench: openssl could not make a certificate\n";
    return 1;
  }

  std::vector<Scenario> scenarios = {
      {"echo 100 x 16 x 32 B", 100, 16, false, 32},
      {"echo 10 x 4 x 64 KiB", 10, 4, true, 65536},
  };
  if (!chat_server.empty())
    scenarios.push_back({"chat_server broadcast: 1 sender x 16 in flight, "
                         "64 B, 1,000 clients (deliveries/s)",
                         1000, 16, false, 64, true});
  std::ostringstream table;
  table << "| scenario | ws:// msg/s | wss:// msg/s | wss/ws | ws:// server "
           "CPU us/msg | wss:// server CPU us/msg |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  char line[512];
  for (const auto &s : scenarios) {
    std::vector<double> rate[2], cpu[2];
    for (int r = 0; r < runs; ++r) {
      for (int secure = 0; secure < 2; ++secure) { // alternating
        std::vector<std::string> args = {s.chat ? chat_server : echo_server,
                                         "--port", "0", "--host", "127.0.0.1"};
        if (secure)
          args.insert(args.end(), {"--cert", cert, "--key", key});
        Server server(args, pin ? 0 : -1);
        Load load;
        load.frame = client_frame(s.binary, s.size);
        load.in_flight = s.in_flight;
        if (s.chat)
          load.senders = 1;
        Result res =
            secure ? drive<asio::ssl::stream<tcp::socket>>(load, server,
                                                           s.conns, seconds)
                   : drive<tcp::socket>(load, server, s.conns, seconds);
        rate[secure].push_back(res.per_second);
        cpu[secure].push_back(res.cpu_us_per_message);
      }
    }
    std::snprintf(
        line, sizeof line, "| %s | %.0f | %.0f | %.2fx | %.2f | %.2f |\n",
        s.name.c_str(), median(rate[0]), median(rate[1]),
        median(rate[1]) / median(rate[0]), median(cpu[0]), median(cpu[1]));
    table << line;
    if (median(rate[0]) <= 0 || median(rate[1]) <= 0) {
      std::cerr << "bench: no message came back in " << s.name << "\n";
      return 1;
    }
  }

  // Idle memory: the server's resident growth per open connection.
  std::vector<double> per_conn[2];
  for (int r = 0; r < runs; ++r)
    for (int secure = 0; secure < 2; ++secure) {
      std::vector<std::string> args = {echo_server, "--port", "0", "--host",
                                       "127.0.0.1"};
      if (secure)
        args.insert(args.end(), {"--cert", cert, "--key", key});
      Server server(args, pin ? 0 : -1);
      const long before = server.rss_kib();
      Load load;
      load.counting = false;
      // Every connection open and upgraded; the server settles, then its
      // memory is read.
      auto settle = [&](auto conns) {
        load.io.run_for(std::chrono::milliseconds(300));
        per_conn[secure].push_back(double(server.rss_kib() - before) / idle);
        close_all(load, conns);
      };
      if (secure)
        settle(open_all<asio::ssl::stream<tcp::socket>>(load, server, idle));
      else
        settle(open_all<tcp::socket>(load, server, idle));
    }
  std::snprintf(line, sizeof line,
                "| idle memory per connection (%d open) | %.1f KiB | %.1f "
                "KiB | %.2fx | | |\n",
                idle, median(per_conn[0]), median(per_conn[1]),
                median(per_conn[1]) / median(per_conn[0]));
  table << line;

  std::ostringstream report;
  report << "ws:// and wss:// (TLS 1.3, P-256), medians of " << runs
         << " alternating runs of " << seconds << " s"
         << (pin ? "; server pinned to core 0, generator to core 1" : "")
         << ".\n\n"
         << table.str();
  std::cout << report.str();
  if (!out_file.empty())
    std::ofstream(out_file) << report.str();
  std::system(("rm -rf " + std::string(dir)).c_str());
  return 0;
}
