// Node's ws as an echo server for our client: echoes text as text and binary
// as binary, chooses the first subprotocol offered, and on the text
// "close CODE REASON" closes with that code and reason. Prints its port,
// then one line per close it sees. With TLS_CERT and TLS_KEY (PEM files) in
// the environment it serves wss:// instead. With DEFLATE=1 it accepts
// permessage-deflate with Node's defaults, and before each close line says
// how many bytes it read from that socket ("read N").
// SPDX-License-Identifier: MIT
const fs = require("fs");
const https = require("https");
const { WebSocketServer } = require("ws");

const handleProtocols = (protocols) =>
  protocols.values().next().value || false;
const perMessageDeflate = process.env.DEFLATE === "1";
let wss;
if (process.env.TLS_CERT) {
  const server = https.createServer({
    cert: fs.readFileSync(process.env.TLS_CERT),
    key: fs.readFileSync(process.env.TLS_KEY),
  });
  wss = new WebSocketServer({ server, handleProtocols });
  server.listen(0, "127.0.0.1", () =>
    console.log(`listening ${server.address().port}`));
} else {
  wss = new WebSocketServer({
    host: "127.0.0.1", port: 0, handleProtocols, perMessageDeflate,
  });
  wss.on("listening", () => console.log(`listening ${wss.address().port}`));
}
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
  const tcp = socket._socket; // gone from the socket once it closes
  socket.on("close", (code, reason) => {
    if (perMessageDeflate) console.log(`read ${tcp.bytesRead}`);
    console.log(`close ${code} ${reason}`);
  });
});
