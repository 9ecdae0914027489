// chat_server --redis: three instances share one chat through a real
// redis-server, keep chatting locally while it is down, and share again once
// it is back.
// SPDX-License-Identifier: MIT
#include "support.hpp"

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
  std::string name;
  std::unique_ptr<ws::WebSocket> socket;
  std::vector<std::string> lines;
  Chatter(const std::string &n, const std::string &url)
      : name(n), socket(std::make_unique<ws::WebSocket>(url)) {
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

} // namespace

TEST_CASE("three chat_servers share one chat through Redis") {
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

  // Two clients on each instance.
  std::vector<std::unique_ptr<Chatter>> clients;
  for (int i = 0; i < 6; ++i)
    clients.push_back(
        std::make_unique<Chatter>("c" + std::to_string(i), urls[i / 2]));
  wait_until([&] {
    for (auto &c : clients)
      if (c->socket->readyState() != ws::WebSocket::OPEN)
        return false;
    return true;
  });

  SECTION("every client sees every line once, each sender's in order") {
    const int per_client = 20;
    for (int k = 0; k < per_client; ++k)
      for (auto &c : clients)
        c->socket->send(c->name + ": " + std::to_string(k));
    const std::size_t total = clients.size() * per_client;
    wait_until([&] {
      for (auto &c : clients)
        if (c->lines.size() < total)
          return false;
      return true;
    });
    for (auto &c : clients) {
      INFO(c->name);
      CHECK(c->lines.size() == total);
      std::map<std::string, int> next; // per sender: the k expected next
      for (const auto &line : c->lines) {
        const std::string sender = line.substr(0, line.find(':'));
        CHECK(std::stoi(line.substr(line.find(' ') + 1)) == next[sender]++);
      }
      for (auto &other : clients)
        CHECK(next[other->name] == per_client);
    }
  }

  SECTION("without Redis chat stays local; once back, sharing resumes") {
    redis->signal(SIGTERM);
    CHECK(redis->wait() == 0);
    // Both clients of instance 0 still chat with each other.
    clients[0]->socket->send("c0: while redis is down");
    wait_until([&] {
      return clients[0]->count("c0: while redis is down") == 1 &&
             clients[1]->count("c0: while redis is down") == 1;
    });

    redis = start_redis(redis_port);
    for (auto &s : servers) // each reconnects (back-off: at most 5 s)
      CHECK(s->read_line(std::chrono::seconds(15)) ==
            "chat_server sharing through " + bus);
    for (auto &c : clients)
      c->socket->send(c->name + ": after the outage");
    wait_until([&] {
      for (auto &c : clients)
        for (auto &other : clients)
          if (c->count(other->name + ": after the outage") != 1)
            return false;
      return true;
    });
    // What was said during the outage stayed where it was said.
    for (int i = 2; i < 6; ++i)
      CHECK(clients[i]->count("c0: while redis is down") == 0);
    for (auto &c : clients)
      CHECK(c->lines.size() == (c->name == "c0" || c->name == "c1" ? 7u : 6u));
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

TEST_CASE("chat_server --redis with a bad URL: one line and exit 2 (usage)") {
  Process server(
      {env("CHAT_SERVER"), "--port", "0", "--redis", "http://127.0.0.1:6379/"});
  CHECK(server.wait() == 2);
}
