// The benchmark's baseline: raw websocketpp 0.8.2 with its stock Asio config
// (locks and strands, 16 KiB read buffer), logs off, and nothing else. What
// a program using websocketpp directly would write:
//   baseline_server [--port N] [--host H] [--chat [--prepared]] [--deflate]
// echoes every message (text as text, binary as binary), or with --chat
// greets each socket and sends every message to every socket, framing it
// once per recipient as websocketpp's send() does; with --prepared it frames
// it once and sends that prepared message to all, websocketpp's own way of
// framing a broadcast once (a second baseline for the broadcast figures).
// --deflate turns on websocketpp's permessage-deflate extension (its
// documented config), which compresses each send() for its recipient.
// SPDX-License-Identifier: MIT
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/extensions/permessage_deflate/enabled.hpp>
#include <websocketpp/server.hpp>

#include <iostream>
#include <set>
#include <string>

using websocketpp::connection_hdl;

/// The stock config with permessage-deflate on.
struct DeflateConfig : websocketpp::config::asio {
  using type = DeflateConfig;
  using permessage_deflate_type =
      websocketpp::extensions::permessage_deflate::enabled<
          websocketpp::config::asio::permessage_deflate_config>;
};

template <class Config>
int serve(const std::string &host, const std::string &port, bool chat,
          bool prepared) {
  using Server = websocketpp::server<Config>;
  Server server;
  server.clear_access_channels(websocketpp::log::alevel::all);
  server.clear_error_channels(websocketpp::log::elevel::all);
  server.init_asio();
  server.set_reuse_addr(true);
  // What websocketpp's users write to frame a message once: a processor of
  // their own (a connection's is private).
  typename Config::rng_type rng;
  auto manager = std::make_shared<typename Config::con_msg_manager_type>();
  websocketpp::processor::hybi13<Config> framer(false, true, manager, rng);
  std::set<connection_hdl, std::owner_less<connection_hdl>> sockets;
  server.set_open_handler([&](connection_hdl h) {
    sockets.insert(h);
    if (chat)
      server.send(h, "Welcome to the chat room.",
                  websocketpp::frame::opcode::text);
  });
  server.set_close_handler([&](connection_hdl h) { sockets.erase(h); });
  server.set_message_handler(
      [&](connection_hdl h, typename Server::message_ptr msg) {
        websocketpp::lib::error_code ec;
        if (!chat) {
          server.send(h, msg->get_payload(), msg->get_opcode(), ec);
          return;
        }
        if (!prepared) {
          for (const auto &s : sockets)
            server.send(s, msg->get_payload(), msg->get_opcode(), ec);
          return;
        }
        // A server's frames are not masked, so one prepared frame fits all.
        auto out =
            manager->get_message(msg->get_opcode(), msg->get_payload().size());
        framer.prepare_data_frame(msg, out);
        for (const auto &s : sockets)
          server.send(s, out, ec);
      });
  server.listen(host, port);
  server.start_accept();
  asio::error_code ec;
  std::cout << "baseline_server listening on ws://" << host << ":"
            << server.get_local_endpoint(ec).port() << "/" << std::endl;
  server.run();
  return 0;
}

int main(int argc, char **argv) {
  std::string port = "0", host = "127.0.0.1";
  bool chat = false, prepared = false, deflate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--chat")
      chat = true;
    else if (flag == "--prepared")
      prepared = true;
    else if (flag == "--deflate")
      deflate = true;
    else if (flag == "--port" && i + 1 < argc)
      port = argv[++i];
    else if (flag == "--host" && i + 1 < argc)
      host = argv[++i];
  }
  return deflate ? serve<DeflateConfig>(host, port, chat, prepared)
                 : serve<websocketpp::config::asio>(host, port, chat, prepared);
}
