// Node's ws as an echo server for our client: echoes text as text and binary
// as binary, chooses the first subprotocol offered, and on the text
// "close CODE REASON" closes with that code and reason. Prints its port,
// then one line per close it sees.
// SPDX-License-Identifier: MIT
const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  handleProtocols: (protocols) => protocols.values().next().value || false,
});
wss.on("listening", () => console.log(`listening ${wss.address().port}`));
wss.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    const text = isBinary ? "" : data.toString();
    if (text.startsWith("close ")) {
      const [, code, ...reason] = text.split(" ");
      socket.close(Number(code), reason.join(" "));
    } else {
      socket.send(data, { binary: isBinary });
    }
  });
  socket.on("close", (code, reason) => console.log(`close ${code} ${reason}`));
});
