// The flagship end to end: chat_server and two chat_client processes chat
// through it; the page is served at / with 404 elsewhere.
// SPDX-License-Identifier: MIT
#include "forwarder.hpp"
#include "process.hpp"

#include <cstdlib>
#include <optional>

using namespace std::chrono_literals;

namespace {

/// Starts chat_server on a free loopback port; returns the port.
std::uint16_t start_server(test::Process &server) {
  std::string line = server.read_line();
  const std::string prefix = "chat_server listening on http://127.0.0.1:";
  REQUIRE(line.rfind(prefix, 0) == 0);
  return static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
}

} // namespace

TEST_CASE("two chat_clients chat through chat_server") {
  test::Process server(
      {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = start_server(server);
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";

  test::Process ann({test::env("CHAT_CLIENT"), url, "--nick", "ann"});
  CHECK(ann.read_line() == "Welcome to the chat room.");
  // Without --nick, the first line typed is the nickname.
  test::Process cy({test::env("CHAT_CLIENT"), url});
  CHECK(cy.read_line() == "Welcome to the chat room.");
  cy.write_line("cy");
  cy.write_line("hi all");
  CHECK(ann.read_line() == "cy: hi all");
  CHECK(cy.read_line() == "cy: hi all");
  cy.close_stdin();
  CHECK(cy.wait() == 0);
  test::Process bob({test::env("CHAT_CLIENT"), url, "--nick", "bob"});
  CHECK(bob.read_line() == "Welcome to the chat room.");
  // Another room: dee hears only it.
  test::Process dee(
      {test::env("CHAT_CLIENT"), url + "?room=cats", "--nick", "dee"});
  CHECK(dee.read_line() == "Welcome to the chat room.");

  ann.write_line("hello, bob");
  CHECK(ann.read_line() == "ann: hello, bob");
  CHECK(bob.read_line() == "ann: hello, bob");
  bob.write_line("hi ann \xe2\x9c\x8c");
  CHECK(bob.read_line() == "bob: hi ann \xe2\x9c\x8c");
  CHECK(ann.read_line() == "bob: hi ann \xe2\x9c\x8c");
  // A typed line that is not UTF-8 cannot be a text message: said on
  // stderr, and the chat goes on.
  ann.write_line("caf\xe9");
  ann.write_line("still chatting");
  CHECK(ann.read_line() == "ann: still chatting");
  CHECK(bob.read_line() == "ann: still chatting");

  // End of input: close with 1000, exit 0 after the close event.
  ann.close_stdin();
  CHECK(ann.wait() == 0);
  bob.write_line("still here");
  CHECK(bob.read_line() == "bob: still here");
  dee.write_line("meow");
  CHECK(dee.read_line() == "dee: meow"); // the first line dee hears
  bob.write_line("bye");
  CHECK(bob.read_line() == "bob: bye"); // and not dee's
  dee.close_stdin();
  CHECK(dee.wait() == 0);

  // The page at / (and /?room=NAME), 404 elsewhere.
  std::string page = test::http_get(port, "/");
  CHECK(page.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(page.find("text/html") != std::string::npos);
  CHECK(page.find("new WebSocket(scheme + location.host + \"/\" + "
                  "location.search)") != std::string::npos);
  CHECK(test::http_get(port, "/?room=cats").rfind("HTTP/1.1 200", 0) == 0);
  CHECK(test::http_get(port, "/nope").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(test::http_get(port, "/nope?room=cats").rfind("HTTP/1.1 404", 0) == 0);

  // SIGTERM: every socket closed cleanly with 1001, both exit 0.
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
  CHECK(bob.wait() == 0);
}

TEST_CASE("chat_client --reconnect: kill and restart chat_server, and the "
          "chat goes on") {
  auto server = std::make_unique<test::Process>(std::vector<std::string>{
      test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const std::string port = std::to_string(start_server(*server));
  const std::string url = "ws://127.0.0.1:" + port + "/";
  test::Process ann(
      {test::env("CHAT_CLIENT"), url, "--nick", "ann", "--reconnect"});
  CHECK(ann.read_line() == "Welcome to the chat room.");
  server->signal(SIGKILL); // no close frame: the connection just drops
  server->wait();
  server = std::make_unique<test::Process>(std::vector<std::string>{
      test::env("CHAT_SERVER"), "--port", port, "--host", "127.0.0.1"});
  CHECK(start_server(*server) == std::stoi(port));
  CHECK(ann.read_line(20s) == "Welcome to the chat room.");
  test::Process bob({test::env("CHAT_CLIENT"), url, "--nick", "bob"});
  CHECK(bob.read_line() == "Welcome to the chat room.");
  ann.write_line("still here");
  CHECK(ann.read_line() == "ann: still here");
  CHECK(bob.read_line() == "ann: still here");
  ann.close_stdin();
  CHECK(ann.wait() == 0);
}

TEST_CASE("chat_client --reconnect --ping 1000: through a link blackholed "
          "for 10 s, the chat goes on once it heals") {
  test::Process server(
      {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = start_server(server);
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
  test::Forwarder link(port);
  const std::string through = link.url();
  test::LoopThread loop; // the link forwards while this thread reads
  test::Process ann({test::env("CHAT_CLIENT"), through, "--nick", "ann",
                     "--reconnect", "--ping", "1000"});
  CHECK(ann.read_line() == "Welcome to the chat room.");
  test::Process bob({test::env("CHAT_CLIENT"), url, "--nick", "bob"});
  CHECK(bob.read_line() == "Welcome to the chat room.");
  // No FIN, no RST: ann's heartbeat finds the silence; her attempts wait
  // on the blackhole until it heals.
  ws::post([&] {
    link.blackhole();
    ws::setTimeout([&] { link.heal(); }, 10000);
  });
  bob.write_line("while ann is away");
  CHECK(bob.read_line() == "bob: while ann is away");
  CHECK(ann.read_line(40s) == "Welcome to the chat room.");
  ann.write_line("back");
  CHECK(ann.read_line() == "ann: back");
  CHECK(bob.read_line() == "ann: back");
  ann.close_stdin();
  CHECK(ann.wait() == 0);
  bob.close_stdin();
  CHECK(bob.wait() == 0);
}

TEST_CASE("chat_server --ping 300 drops a client whose link goes silent, "
          "and keeps the rest") {
  test::Process server({test::env("CHAT_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--ping", "300"});
  const auto port = start_server(server);
  test::Forwarder link(port);
  ws::WebSocket silent(link.url()),
      direct("ws://127.0.0.1:" + std::to_string(port) + "/");
  int greetings = 0;
  std::vector<std::string> heard;
  silent.onmessage = [&](const ws::MessageEvent &) { ++greetings; };
  direct.onmessage = [&](const ws::MessageEvent &e) {
    heard.push_back(e.data);
  };
  test::wait_until([&] { return greetings == 1 && heard.size() == 1; });
  const auto start = std::chrono::steady_clock::now();
  link.blackhole();
  test::wait_until([&] { return link.ended_by_target() == 1; }, 5s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  CHECK(took <= 2 * 0.3 + 0.3);
  // The one that answers its pings stays, for more than two intervals.
  ws::runUntil([] { return false; }, 1000ms);
  direct.send("still here");
  test::wait_until([&] { return heard.size() == 2; });
  CHECK(heard[1] == "still here");
  CHECK(direct.readyState() == ws::WebSocket::OPEN);
  // The loop runs while the server goes, so that direct answers its close
  // (else the server waits out its closeTimeout for the answer).
  std::optional<ws::CloseEvent> closed;
  direct.onclose = [&](const ws::CloseEvent &e) { closed = e; };
  server.signal(SIGTERM);
  test::wait_until([&] { return closed.has_value(); });
  CHECK(closed->code == ws::CloseCode::goingAway);
  CHECK(closed->wasClean);
  CHECK(server.wait() == 0);
}

TEST_CASE("chat_server with no --host serves both of localhost's addresses") {
  // As README's block 1 starts it, for a client of ws://localhost:8000/:
  // Node 18 tries ::1 alone, others 127.0.0.1 first.
  test::Process server({test::env("CHAT_SERVER"), "--port", "0"});
  const std::string line = server.read_line();
  REQUIRE(line.rfind("chat_server listening on http://localhost:", 0) == 0);
  const std::string port = test::port_in(line);
  for (const auto &host : test::loopbacks()) {
    INFO(host);
    test::Process client({test::env("CHAT_CLIENT"),
                          "ws://" + host + ":" + port + "/", "--nick", "ann"});
    CHECK(client.read_line() == "Welcome to the chat room.");
    client.close_stdin();
    CHECK(client.wait() == 0);
  }
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("chat_client says why the chat ended, unless it ended it") {
  // As npm's wscat does: a server that closes (1001), one that dies
  // (1006), a line over the server's maxPayload (1009). Leaving (the end of
  // input, 1000) says nothing.
  for (const std::string how : {"leave", "close", "kill", "too long"}) {
    INFO(how);
    test::Process server(
        {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
    const auto port = start_server(server);
    test::Process client({test::env("CHAT_CLIENT"),
                          "ws://127.0.0.1:" + std::to_string(port) + "/",
                          "--nick", "ann"},
                         test::Stderr::joined);
    CHECK(client.read_line() == "Welcome to the chat room.");
    if (how == "leave") {
      client.close_stdin();
      CHECK(client.read_rest().empty());
      CHECK(client.wait() == 0);
    } else if (how == "close") {
      server.signal(SIGTERM);
      CHECK(client.read_line() ==
            "chat_client: disconnected (code: 1001, reason: \"\")");
      CHECK(client.wait() == 0);
      CHECK(server.wait() == 0); // once: a second SIGTERM would kill it
      continue;
    } else if (how == "kill") {
      server.signal(SIGKILL);
      CHECK(client.read_line() ==
            "chat_client: disconnected (code: 1006, reason: \"\")");
      CHECK(client.wait() == 1);
    } else {
      client.write_line(std::string(17 << 20, 'x'));
      CHECK(client.read_line().rfind(
                "chat_client: disconnected (code: 1009, reason: ", 0) == 0);
      CHECK(client.wait() == 0);
    }
    if (how != "kill") { // "leave" and "too long": the server goes on
      server.signal(SIGTERM);
      CHECK(server.wait() == 0);
    }
  }
}

TEST_CASE("chat_client exits 1 when the connection fails") {
  std::uint16_t port;
  {
    asio::io_context ctx;
    asio::ip::tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  test::Process client({test::env("CHAT_CLIENT"),
                        "ws://127.0.0.1:" + std::to_string(port) + "/",
                        "--nick", "x"});
  CHECK(client.wait() == 1);
}

TEST_CASE("the examples check their flags") {
  test::Process help({test::env("CHAT_SERVER"), "--help"});
  CHECK(help.read_line().rfind("usage: chat_server", 0) == 0);
  CHECK(help.wait() == 0);
  CHECK(test::Process({test::env("CHAT_SERVER"), "--port", "70000"}).wait() ==
        2);
  CHECK(test::Process({test::env("CHAT_SERVER"), "--bogus"}).wait() == 2);
  CHECK(test::Process({test::env("CHAT_SERVER"), "--page", "/no/such/file"})
            .wait() == 1);
  CHECK(test::Process({test::env("CHAT_CLIENT"), "--bogus"}).wait() == 2);
  CHECK(test::Process({test::env("CHAT_CLIENT"), "--ping", "soon"}).wait() ==
        2);
  CHECK(test::Process({test::env("CHAT_SERVER"), "--ping", "soon"}).wait() ==
        2);
  CHECK(test::Process({test::env("CHAT_CLIENT"), "ftp://x/", "--nick", "n"})
            .wait() == 2);
}

TEST_CASE("chat_server refuses a port in use with one clear line") {
  test::Process first(
      {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = start_server(first);
  test::Process second({test::env("CHAT_SERVER"), "--port",
                        std::to_string(port), "--host", "127.0.0.1"});
  CHECK(second.wait() == 1);
  first.signal(SIGINT);
  CHECK(first.wait() == 0);
}
