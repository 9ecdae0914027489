// Topics (Bun's publish/subscribe): a server's sockets subscribe, the server
// or a socket publishes, and a ws::Bus carries publishes between servers
// (here an in-process one, to prove the interface without Redis; the Redis
// one is in test_redis).
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"
#include "support.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <thread>

using namespace test;
using ws::WebSocket;

namespace {

/// A server whose sockets join the topics their path lists (/a,b joins a
/// and b), and keeps a handle to each socket in order of arrival.
struct Rooms {
  ws::Server server;
  std::vector<WebSocket> sockets;
  std::string everyone;          // a topic every socket joins, if not ""
  std::atomic<int> connected{0}; // for a thread that is not the loop's
  explicit Rooms(ws::ServerOptions o = {}) : server(std::move(o)) {
    server.onconnection = [this](WebSocket &socket, const ws::Request &req) {
      if (!everyone.empty())
        socket.subscribe(everyone);
      std::string list = req.path.substr(1);
      for (std::size_t at = 0; !list.empty() && at <= list.size();) {
        const std::size_t end = std::min(list.find(',', at), list.size());
        socket.subscribe(list.substr(at, end - at));
        at = end + 1;
      }
      sockets.push_back(socket);
      ++connected;
    };
    server.listen(0, "127.0.0.1");
  }
  /// A recorded client that joined `topics`, open.
  struct Member {
    WebSocket socket;
    Recorder r;
    std::vector<std::string> texts() const {
      std::vector<std::string> t;
      for (const auto &m : r.messages)
        t.push_back(m.data);
      return t;
    }
  };
  std::unique_ptr<Member> join(const std::string &topics) {
    auto m = std::unique_ptr<Member>(
        new Member{WebSocket(local_url(server, "/" + topics)), {}});
    m->r.attach(m->socket);
    const std::size_t before = sockets.size();
    wait_until([&] { return sockets.size() == before + 1; });
    return m;
  }
};

/// An in-process ws::Bus: every server's bus is a port on one hub, which
/// hands a publish to the other ports that subscribe to its topic, later on
/// the loop (as a broker's answer would come). It records what each port
/// was asked, to check the server's side of the interface.
struct Hub {
  struct Port : ws::Bus, std::enable_shared_from_this<Port> {
    Hub *hub = nullptr;
    std::set<std::string> topics;
    std::vector<std::string> calls; // "+a", "-a", "publish a", "close"
    void subscribe(const std::string &topic) override {
      CHECK(topics.insert(topic).second); // asked once per topic
      calls.push_back("+" + topic);
    }
    void unsubscribe(const std::string &topic) override {
      CHECK(topics.erase(topic) == 1);
      calls.push_back("-" + topic);
    }
    void publish(const std::string &topic, std::string_view data,
                 ws::SendOptions options) override {
      calls.push_back("publish " + topic);
      for (auto &weak : hub->ports) {
        auto other = weak.lock();
        if (other && other.get() != this)
          ws::post([other, topic, d = std::string(data), options] {
            if (other->topics.count(topic) && other->receive)
              other->receive(topic, d, options);
          });
      }
    }
    void close() override { calls.push_back("close"); }
  };
  std::vector<std::weak_ptr<Port>> ports;
  std::shared_ptr<Port> port() {
    auto p = std::make_shared<Port>();
    p->hub = this;
    ports.push_back(p);
    return p;
  }
};

ws::ServerOptions on(const std::shared_ptr<ws::Bus> &bus) {
  ws::ServerOptions o;
  o.bus = bus;
  return o;
}

} // namespace

TEST_CASE("subscribe, unsubscribe, isSubscribed and subscriptions, as Bun") {
  Rooms rooms;
  auto a = rooms.join("news,sport");
  WebSocket &s = rooms.sockets[0];
  CHECK(s.isSubscribed("news"));
  CHECK(s.isSubscribed("sport"));
  CHECK_FALSE(s.isSubscribed("weather"));
  CHECK(s.subscriptions() == std::vector<std::string>{"news", "sport"});
  s.subscribe("news"); // again: still once
  CHECK(rooms.server.subscriberCount("news") == 1);
  s.unsubscribe("sport");
  s.unsubscribe("weather"); // never joined: nothing
  CHECK(s.subscriptions() == std::vector<std::string>{"news"});
  CHECK(rooms.server.subscriberCount("sport") == 0);
  s.subscribe("");
  CHECK(s.isSubscribed("")); // any string is a topic, as in Bun
  CHECK(rooms.server.subscriberCount("weather") == 0);
}

TEST_CASE("server.publish reaches the topic's subscribers, each once") {
  Rooms rooms;
  auto news = rooms.join("news");
  auto both = rooms.join("news,sport");
  auto sport = rooms.join("sport");
  auto none = rooms.join("");
  rooms.sockets[3].unsubscribe("");
  CHECK(rooms.server.subscriberCount("news") == 2);
  rooms.server.publish("news", "rain");
  rooms.server.publish("sport", ws::Binary{1, 2, 3});
  rooms.server.publish("nobody", "lost");
  rooms.server.publish("news", "rain again", {false, false});
  wait_until([&] {
    return news->r.messages.size() == 2 && both->r.messages.size() == 3 &&
           sport->r.messages.size() == 1;
  });
  CHECK(news->texts() == std::vector<std::string>{"rain", "rain again"});
  CHECK(both->texts() ==
        std::vector<std::string>{"rain", std::string("\1\2\3"), "rain again"});
  CHECK(both->r.messages[1].isBinary);
  CHECK_FALSE(both->r.messages[0].isBinary);
  // A round trip more, so anything stray would have come.
  rooms.server.publish("news", "last");
  wait_until([&] { return news->r.messages.size() == 3; });
  CHECK(sport->r.messages.size() == 1);
  CHECK(none->r.messages.empty());
}

TEST_CASE("socket.publish reaches every subscriber but itself") {
  Rooms rooms;
  auto a = rooms.join("room");
  auto b = rooms.join("room");
  auto c = rooms.join("elsewhere");
  rooms.sockets[0].publish("room", "from a");
  // A socket that does not subscribe may publish too.
  rooms.sockets[2].publish("room", "from c");
  wait_until([&] { return b->r.messages.size() == 2; });
  rooms.server.publish("room", "from the server");
  wait_until(
      [&] { return a->r.messages.size() == 2 && b->r.messages.size() == 3; });
  CHECK(a->texts() == std::vector<std::string>{"from c", "from the server"});
  CHECK(b->texts() ==
        std::vector<std::string>{"from a", "from c", "from the server"});
  CHECK(c->r.messages.empty());
}

TEST_CASE("topics: bad input and client sockets") {
  Rooms rooms;
  auto a = rooms.join("t");
  const std::string bad = "\xC3\x28";
  CHECK_THROWS_AS(rooms.server.publish("t", bad), ws::SyntaxError);
  CHECK_THROWS_AS(rooms.sockets[0].publish("t", bad), ws::SyntaxError);
  // As bytes, the same are fine.
  rooms.server.publish("t", bad, {true});
  wait_until([&] { return a->r.messages.size() == 1; });
  CHECK(a->r.messages[0].data == bad);
  // A client socket has no server to publish through.
  CHECK_THROWS_AS(a->socket.subscribe("t"), ws::NotSupportedError);
  CHECK_THROWS_WITH(a->socket.publish("t", "x"),
                    test::contains("topics belong to a server's sockets"));
  CHECK_FALSE(a->socket.isSubscribed("t"));
  CHECK(a->socket.subscriptions().empty());
  a->socket.unsubscribe("t"); // nothing to leave
}

TEST_CASE("a socket's subscriptions end with it") {
  Rooms rooms;
  auto a = rooms.join("t,u");
  auto b = rooms.join("t");
  WebSocket kept = rooms.sockets[0]; // a handle that outlives the socket
  CHECK(rooms.server.subscriberCount("t") == 2);
  a->socket.close();
  wait_until([&] { return a->r.closed(); });
  wait_until([&] { return rooms.server.subscriberCount("t") == 1; });
  CHECK(rooms.server.subscriberCount("u") == 0);
  CHECK(kept.subscriptions().empty());
  kept.subscribe("t"); // too late: nothing
  CHECK_FALSE(kept.isSubscribed("t"));
  CHECK(rooms.server.subscriberCount("t") == 1);
  // Its publish still reaches the others, as the server's does.
  kept.publish("t", "after");
  wait_until([&] { return b->r.messages.size() == 1; });
}

TEST_CASE("a publish is framed and compressed once, and each socket's copy "
          "follows what it agreed") {
  ws::ServerOptions o;
  o.perMessageDeflate.enabled = true;
  Rooms rooms(o);
  rooms.everyone = "t";
  const std::string pmd = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
  std::string text;
  for (int i = 0; text.size() < 20000; ++i)
    text += "line " + std::to_string(i) + " of the news, ";
  LoopThread loop;
  RawClient plain(rooms.server.port()), packed(rooms.server.port(), pmd);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (rooms.connected.load() < 2) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::yield();
  }
  REQUIRE(rooms.server.subscriberCount("t") == 2);
  rooms.server.publish("t", text);
  auto p = plain.read_frame();
  auto z = packed.read_frame();
  REQUIRE(p);
  REQUIRE(z);
  CHECK(p->rsv == 0);
  CHECK(p->payload == text);
  CHECK(z->rsv == 4); // RSV1: compressed
  CHECK(z->payload.size() < text.size() / 4);
}

TEST_CASE("a publish respects maxBufferedAmount as broadcast does") {
  ws::ServerOptions o;
  o.maxBufferedAmount = 256 * 1024;
  o.closeTimeout = 300ms;
  Rooms rooms(o);
  auto reader = rooms.join("t");
  LoopPeer stuck(rooms.server.port(), /*read=*/false);
  stuck.send(test::upgrade_request());
  wait_until([&] { return rooms.sockets.size() == 2; });
  WebSocket &slow = rooms.sockets[1];
  slow.subscribe("t");
  const std::string chunk(64 * 1024, 'p');
  std::size_t sent = 0;
  for (; sent < 2000 && slow.readyState() == WebSocket::OPEN; ++sent) {
    rooms.server.publish("t", chunk);
    wait_until([&] { return reader->r.messages.size() == sent + 1; });
  }
  CHECK(slow.readyState() == WebSocket::CLOSING);
  wait_until([&] { return rooms.server.subscriberCount("t") == 1; });
  CHECK(reader->r.messages.size() == sent);
}

TEST_CASE("topics from many threads: each publisher's order, no lost or "
          "stray message, subscriptions that race with closing") {
  Rooms rooms;
  std::vector<std::unique_ptr<Rooms::Member>> members;
  for (int i = 0; i < 4; ++i)
    members.push_back(rooms.join("all"));
  std::vector<WebSocket> handles = rooms.sockets;
  auto churn = rooms.join("");
  WebSocket doomed = rooms.sockets.back();
  constexpr int threads = 4, each = 200;
  std::atomic<bool> done{false};
  {
    LoopThread loop;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (int k = 0; k < each; ++k) {
          // Socket t publishes (the others get it), the server too.
          handles[t].publish("all",
                             std::to_string(t) + " " + std::to_string(k));
          handles[t].subscribe("x" + std::to_string(k % 3));
          handles[t].unsubscribe("x" + std::to_string(k % 3));
          (void)handles[t].subscriptions();
          doomed.subscribe("d" + std::to_string(t));
          doomed.unsubscribe("d" + std::to_string(t));
        }
      });
    // A socket closes while the threads come and go on it.
    ws::post([&] { churn->socket.close(); });
    for (auto &w : workers)
      w.join();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    auto all_in = [&] {
      for (auto &m : members)
        if (m->r.messages.size() < std::size_t(each * (threads - 1)))
          return false;
      return churn->r.closed();
    };
    while (!done) {
      // Read on the loop thread: the recorders belong to it.
      std::atomic<int> answer{-1};
      ws::post([&] { answer = all_in() ? 1 : 0; });
      while (answer < 0)
        std::this_thread::yield();
      done = answer == 1;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
  }
  for (int m = 0; m < threads; ++m) {
    INFO("member " << m);
    const auto &msgs = members[m]->r.messages;
    CHECK(msgs.size() == std::size_t(each * (threads - 1)));
    std::map<int, int> next;
    for (const auto &e : msgs) {
      const int t = std::stoi(e.data);
      CHECK(t != m); // never its own
      CHECK(std::stoi(e.data.substr(e.data.find(' ') + 1)) == next[t]++);
    }
  }
  CHECK(rooms.server.subscriberCount("all") == 4);
  for (int k = 0; k < 3; ++k)
    CHECK(rooms.server.subscriberCount("x" + std::to_string(k)) == 0);
  wait_until([&] { return rooms.server.subscriberCount("d0") == 0; });
  CHECK(doomed.subscriptions().empty());
}

TEST_CASE("a bus carries publishes between servers, each once, and is asked "
          "only for topics with subscribers here") {
  Hub hub;
  auto bus_a = hub.port(), bus_b = hub.port(), bus_c = hub.port();
  Rooms a(on(bus_a)), b(on(bus_b)), c(on(bus_c));
  auto a1 = a.join("red");
  auto a2 = a.join("red,blue");
  auto b1 = b.join("red");
  auto c1 = c.join("blue");
  // The buses hear of the topics once the loop has run.
  wait_until([&] {
    return bus_a->topics == std::set<std::string>{"red", "blue"} &&
           bus_b->topics == std::set<std::string>{"red"} &&
           bus_c->topics == std::set<std::string>{"blue"};
  });

  // From a socket on a: its own server's other subscriber and b's, not
  // itself; c has no red subscriber, so its bus never hears of red.
  a.sockets[0].publish("red", "r1");
  b.server.publish("red", "r2");
  c.server.publish("blue", ws::Binary{7});
  c.sockets[0].publish("blue", "b1");
  wait_until([&] {
    return a2->r.messages.size() == 4 && a1->r.messages.size() == 1 &&
           b1->r.messages.size() == 2;
  });
  // (Publishers' messages may interleave in any order; each one's keep
  // theirs, below.)
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(a1->texts() == std::vector<std::string>{"r2"});
  CHECK(sorted(a2->texts()) ==
        std::vector<std::string>{std::string("\7"), "b1", "r1", "r2"});
  for (const auto &m : a2->r.messages)
    CHECK(m.isBinary == (m.data == "\7"));
  CHECK(sorted(b1->texts()) == std::vector<std::string>{"r1", "r2"});
  // Its server's publish, not its own.
  CHECK(c1->texts() == std::vector<std::string>{std::string("\7")});
  CHECK(bus_c->topics.count("red") == 0);

  // Each publisher's order across the bus.
  for (int k = 0; k < 100; ++k)
    b.server.publish("red", std::to_string(k));
  wait_until([&] { return a1->r.messages.size() == 101; });
  for (int k = 0; k < 100; ++k)
    CHECK(a1->r.messages[std::size_t(k) + 1].data == std::to_string(k));

  // The last red subscriber of a leaves: a's bus is told, once.
  a.sockets[0].unsubscribe("red");
  a2->socket.close();
  wait_until([&] { return bus_a->topics == std::set<std::string>{}; });
  CHECK(std::count(bus_a->calls.begin(), bus_a->calls.end(), "-red") == 1);
  CHECK(std::count(bus_a->calls.begin(), bus_a->calls.end(), "+red") == 1);
  b.server.publish("red", "after");
  wait_until([&] { return b1->r.messages.size() == 103; });
  CHECK(a1->r.messages.size() == 101);

  // A bus serves one server; the server closes it when it closes.
  CHECK_THROWS_AS(ws::Server(on(bus_a)), std::invalid_argument);
  c.server.close();
  CHECK(bus_c->calls.back() == "close");
}
