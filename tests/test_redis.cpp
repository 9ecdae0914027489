// chat_server --redis (ws::RedisBus): three instances share their rooms
// through a real redis-server, keep chatting locally while it is down, and
// share again once it is back.
// SPDX-License-Identifier: MIT
#include "forwarder.hpp"
#include "support.hpp"

#include <ws/redis.hpp>

#include <algorithm>
#include <map>
#include <memory>

using namespace test;

namespace {

std::unique_ptr<Process> start_redis(const std::string &port) {
  auto redis = std::make_unique<Process>(std::vector<std::string>{
      env("REDIS_SERVER"), "--port", port, "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no"});
  for (;;) // its log goes to stdout; this line means it serves
    if (redis->read_line().find("Ready to accept connections") !=
        std::string::npos)
      return redis;
}

/// A chat client on our loop that keeps every line after the greeting.
struct Chatter {
  std::string name, room;
  std::unique_ptr<ws::WebSocket> socket;
  std::vector<std::string> lines;
  Chatter(const std::string &n, const std::string &r, const std::string &url)
      : name(n), room(r), socket(std::make_unique<ws::WebSocket>(url)) {
    socket->onmessage = [this](const ws::MessageEvent &e) {
      if (e.data != "Welcome to the chat room.")
        lines.push_back(e.data);
    };
  }
  std::size_t count(const std::string &line) const {
    return static_cast<std::size_t>(
        std::count(lines.begin(), lines.end(), line));
  }
};

/// How many connections subscribe to each channel, as Redis says (PUBSUB
/// NUMSUB, an inline command on a socket of our own).
std::vector<long> numsub(const std::string &port,
                         const std::vector<std::string> &channels) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"),
             static_cast<std::uint16_t>(std::stoi(port))});
  std::string command = "PUBSUB NUMSUB";
  for (const auto &c : channels)
    command += " " + c;
  command += "\r\n";
  asio::write(s, asio::buffer(command));
  std::string reply;
  std::vector<long> counts;
  while (counts.size() < channels.size()) {
    char buf[512];
    reply.append(buf, s.read_some(asio::buffer(buf)));
    counts.clear();
    for (std::size_t at = reply.find("\r\n:"); at != std::string::npos;
         at = reply.find("\r\n:", at + 1))
      if (reply.find("\r\n", at + 3) != std::string::npos)
        counts.push_back(std::stol(reply.substr(at + 3)));
  }
  return counts;
}

} // namespace

TEST_CASE("three chat_servers share their rooms through Redis") {
  const std::string redis_port = free_port();
  auto redis = start_redis(redis_port);
  const std::string bus = "redis://127.0.0.1:" + redis_port + "/test-chat";

  std::vector<std::unique_ptr<Process>> servers;
  std::vector<std::string> urls;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(std::make_unique<Process>(
        std::vector<std::string>{env("CHAT_SERVER"), "--port", "0", "--host",
                                 "127.0.0.1", "--redis", bus}));
    const std::string line = servers.back()->read_line();
    REQUIRE(line.find("listening on http://127.0.0.1:") != std::string::npos);
    urls.push_back("ws://127.0.0.1:" + port_in(line) + "/");
    CHECK(servers.back()->read_line() == "chat_server sharing through " + bus);
  }

  // Rooms spread over the instances: "a" on all three, "café" on two, "c"
  // on one (twice), and the room of "/" on one.
  const std::vector<std::pair<int, std::string>> seats = {
      {0, "a"}, {1, "a"}, {2, "a"}, {0, "café"}, {1, "café"},
      {2, "c"}, {2, "c"}, {0, ""},  {1, "a"},
  };
  std::vector<std::unique_ptr<Chatter>> clients;
  for (std::size_t i = 0; i < seats.size(); ++i) {
    const std::string &room = seats[i].second;
    const std::string query =
        room.empty() ? "" : "?room=" + (room == "café" ? "caf%C3%A9" : room);
    clients.push_back(std::make_unique<Chatter>("c" + std::to_string(i), room,
                                                urls[seats[i].first] + query));
  }
  wait_until([&] {
    for (auto &c : clients)
      if (c->socket->readyState() != ws::WebSocket::OPEN)
        return false;
    return true;
  });
  // Each instance subscribes on Redis to the rooms it has members of, once:
  // what a client says before that would not reach the others.
  const std::vector<std::string> channels = {"test-chat:a", "test-chat:café",
                                             "test-chat:c",
                                             "test-chat:", "test-chat:nobody"};
  auto subscribed = [&](const std::vector<long> &want) {
    wait_until([&] { return numsub(redis_port, channels) == want; });
  };
  subscribed({3, 2, 1, 1, 0});
  auto members = [&](const std::string &room) {
    std::vector<Chatter *> in;
    for (auto &c : clients)
      if (c->room == room)
        in.push_back(c.get());
    return in;
  };

  // Every client says `what`; each hears it from every member of its room.
  auto everyone_says = [&](const std::string &what) {
    for (auto &c : clients)
      c->socket->send(c->name + ": " + what);
    wait_until([&] {
      for (auto &c : clients)
        for (Chatter *m : members(c->room))
          if (c->count(m->name + ": " + what) != 1)
            return false;
      return true;
    });
  };

  SECTION("every line reaches its room, on every instance, once and in "
          "each sender's order") {
    const int per_client = 20;
    for (int k = 0; k < per_client; ++k)
      for (auto &c : clients)
        c->socket->send(c->name + ": " + std::to_string(k));
    wait_until([&] {
      for (auto &c : clients)
        if (c->lines.size() < members(c->room).size() * per_client)
          return false;
      return true;
    });
    // A last line per room, so that anything stray would be in by now.
    everyone_says("done");
    for (auto &c : clients) {
      INFO(c->name << " in room '" << c->room << "'");
      CHECK(c->lines.size() == members(c->room).size() * (per_client + 1));
      std::map<std::string, int> next; // per sender: the k expected next
      for (const auto &line : c->lines) {
        const std::string sender = line.substr(0, line.find(':'));
        const std::string said = line.substr(line.find(' ') + 1);
        const bool ok =
            std::any_of(clients.begin(), clients.end(), [&](auto &o) {
              return o->name == sender && o->room == c->room;
            });
        CHECK(ok); // from its room only
        if (said != "done")
          CHECK(std::stoi(said) == next[sender]++);
      }
      for (Chatter *m : members(c->room))
        CHECK(next[m->name] == per_client);
    }

    // A room's last member on an instance leaves: its subscription goes.
    clients[5]->socket->close();
    subscribed({3, 2, 1, 1, 0});
    clients[6]->socket->close();
    subscribed({3, 2, 0, 1, 0});
    wait_until([&] {
      return clients[6]->socket->readyState() == ws::WebSocket::CLOSED;
    });
  }

  SECTION("without Redis rooms stay local; once back, sharing resumes") {
    redis->signal(SIGTERM);
    CHECK(redis->wait() == 0);
    // Room a's two members on instance 1 still reach each other.
    clients[1]->socket->send("c1: while redis is down");
    wait_until([&] {
      return clients[1]->count("c1: while redis is down") == 1 &&
             clients[8]->count("c1: while redis is down") == 1;
    });

    redis = start_redis(redis_port);
    for (auto &s : servers) // each reconnects (back-off: at most 5 s)
      CHECK(s->read_line(std::chrono::seconds(15)) ==
            "chat_server sharing through " + bus);
    subscribed({3, 2, 1, 1, 0});
    everyone_says("after the outage");
    // What was said during the outage stayed on its instance.
    for (int i : {0, 2})
      CHECK(clients[std::size_t(i)]->count("c1: while redis is down") == 0);
    for (auto &c : clients) {
      const bool heard_c1 = c->name == "c1" || c->name == "c8";
      CHECK(c->lines.size() == members(c->room).size() + (heard_c1 ? 1 : 0));
    }
  }

  // SIGTERM: each instance closes its sockets with 1001 and exits 0.
  for (auto &s : servers)
    s->signal(SIGTERM);
  wait_until([&] {
    for (auto &c : clients)
      if (c->socket->readyState() != ws::WebSocket::CLOSED)
        return false;
    return true;
  });
  for (auto &s : servers)
    CHECK(s->wait() == 0);
}

TEST_CASE("RedisBus: a Redis link that goes silent is found by the health "
          "check, and sharing resumes when the path heals") {
  // Server a reaches Redis through a link that goes silent (no FIN, no
  // RST) for 2 s, server b directly. A silence shorter than the interval
  // reports nothing.
  const std::string redis_port = free_port();
  auto redis = start_redis(redis_port);
  Forwarder link(static_cast<std::uint16_t>(std::stoi(redis_port)));
  auto bus_a = std::make_shared<ws::RedisBus>(
      "redis://127.0.0.1:" + std::to_string(link.port()), "silent:");
  auto bus_b = std::make_shared<ws::RedisBus>("redis://127.0.0.1:" + redis_port,
                                              "silent:");
  bus_a->healthCheckInterval = std::chrono::milliseconds(300);
  std::vector<std::string> errors;
  int readies = 0;
  bus_a->onerror = [&](const std::string &why) { errors.push_back(why); };
  bus_a->onready = [&] { ++readies; };
  std::vector<std::unique_ptr<ws::Server>> servers;
  for (auto bus : {bus_a, bus_b}) {
    ws::ServerOptions o;
    o.bus = bus;
    servers.push_back(std::make_unique<ws::Server>(o));
    servers.back()->onconnection = [](ws::WebSocket &s, const ws::Request &) {
      s.subscribe("room");
    };
    servers.back()->listen(0, "127.0.0.1");
  }
  ws::WebSocket on_a("ws://127.0.0.1:" + std::to_string(servers[0]->port()));
  std::vector<std::string> heard;
  on_a.onmessage = [&](const ws::MessageEvent &e) { heard.push_back(e.data); };
  wait_until([&] {
    return bus_a->ready() && bus_b->ready() &&
           servers[0]->subscriberCount("room") == 1;
  });
  // b's publishes reach a's subscriber (a's subscription is confirmed once
  // one arrives).
  auto until_heard = [&](const std::string &line) {
    wait_until(
        [&] {
          if (std::find(heard.begin(), heard.end(), line) != heard.end())
            return true;
          servers[1]->publish("room", line);
          ws::runUntil([] { return false; }, std::chrono::milliseconds(50));
          return false;
        },
        std::chrono::seconds(10));
  };
  until_heard("before");
  CHECK(errors.empty());

  // 150 ms of silence: under the interval, nothing is reported.
  link.blackhole();
  ws::runUntil([] { return false; }, std::chrono::milliseconds(150));
  link.heal();
  ws::runUntil([] { return false; }, std::chrono::milliseconds(1000));
  CHECK(errors.empty());
  CHECK(bus_a->ready());

  const auto start = std::chrono::steady_clock::now();
  link.blackhole();
  wait_until([&] { return !errors.empty(); }, std::chrono::seconds(5));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  CHECK(took <= 3 * 0.3 + 0.3);
  CHECK(errors[0].find("did not answer the health check within 300 ms") !=
        std::string::npos);
  CHECK(!bus_a->ready());
  // While silent, the attempts connect (the link accepts) but Redis never
  // answers: the bus stays not ready, and says so once.
  ws::runUntil([] { return false; }, std::chrono::milliseconds(1500));
  CHECK(!bus_a->ready());
  CHECK(errors.size() == 1);
  link.heal();
  wait_until([&] { return bus_a->ready(); }, std::chrono::seconds(10));
  CHECK(readies == 2);
  until_heard("after");
  for (auto &s : servers)
    s->close();
  ws::runUntil([] { return false; }, std::chrono::milliseconds(100));
  redis->signal(SIGTERM);
  CHECK(redis->wait() == 0);
}

TEST_CASE("RedisBus: a program this one starts holds none of its Redis "
          "connections") {
  const std::string redis_port = free_port();
  auto redis = start_redis(redis_port);
  const auto before = sockets();
  auto bus = std::make_shared<ws::RedisBus>("redis://127.0.0.1:" + redis_port,
                                            "inherit:");
  ws::ServerOptions o;
  o.bus = bus;
  ws::Server server(o);
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.subscribe("room");
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket client(local_url(server));
  // Ready, and subscribed: both of its connections are up.
  wait_until([&] {
    return bus->ready() && server.subscriberCount("room") == 1 &&
           numsub(redis_port, {"inherit:room"}) == std::vector<long>{1};
  });
  auto ours = sockets();
  for (const auto &s : before)
    ours.erase(s);
  // Its publishing and subscribing connections, beside the server's three.
  REQUIRE(ours.size() >= 5);
  Process child({"/bin/sleep", "30"});
  const auto inherited = sockets(child.pid());
  for (const auto &s : ours) {
    INFO(s);
    CHECK(inherited.count(s) == 0);
  }
  server.close();
  ws::runUntil([] { return false; }, std::chrono::milliseconds(100));
  redis->signal(SIGTERM);
  CHECK(redis->wait() == 0);
}

TEST_CASE("RedisBus: a bus dropped at any point is touched no more, and "
          "lets the loop end") {
  // What the loop runs later (the constructor's connect, a health check, a
  // retry, a reply) must find the bus gone, not use it: before the loop
  // runs, while Redis has not answered, and once it shares.
  SECTION("before the loop runs") {
    auto bus = std::make_unique<ws::RedisBus>("redis://127.0.0.1:1");
    bus.reset();
    run_must_return();
  }
  SECTION("closed before the loop runs, and kept") {
    ws::RedisBus bus("redis://127.0.0.1:1");
    bus.close();
    run_must_return();
    CHECK(!bus.ready());
  }
  SECTION("while its connections wait on a Redis that never answers") {
    // A listener that never accepts: TCP connects (the kernel's queue),
    // and nothing is ever said.
    asio::io_context io;
    asio::ip::tcp::acceptor mute(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto bus = std::make_unique<ws::RedisBus>(
        "redis://127.0.0.1:" + std::to_string(mute.local_endpoint().port()));
    bus->healthCheckInterval = std::chrono::milliseconds(50);
    ws::runUntil([] { return false; }, std::chrono::milliseconds(300));
    CHECK(!bus->ready());
    bus.reset();
    run_must_return();
  }
  SECTION("once it shares, with a subscription on its way") {
    const std::string redis_port = free_port();
    auto redis = start_redis(redis_port);
    auto bus = std::make_unique<ws::RedisBus>("redis://127.0.0.1:" + redis_port,
                                              "dropped:");
    bus->healthCheckInterval = std::chrono::milliseconds(50);
    wait_until([&] { return bus->ready(); });
    bus->subscribe("room"); // its confirmation comes after the bus is gone
    bus.reset();
    run_must_return();
    redis->signal(SIGTERM);
    CHECK(redis->wait() == 0);
  }
}

TEST_CASE("chat_server --redis with a bad URL: one line and exit 2 (usage)") {
  Process server(
      {env("CHAT_SERVER"), "--port", "0", "--redis", "http://127.0.0.1:6379/"});
  CHECK(server.wait() == 2);
}
