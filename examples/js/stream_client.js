// stream_client.js: the twin of stream_client.cpp, for a page: the browser's
// WebSocketStream (Chromium since 124; Node 20 has none). It writes each
// line to the chat_server at url, logs what the room says until its own
// last line comes back, and closes; it resolves to 0 when the stream closed
// cleanly, 1 otherwise. Paste it into the console of the chat page and run
//   chat("ws://localhost:8000/", ["hello", "bye"])
// tests/test_matrix.cpp runs it in Chromium beside the C++ program.
// SPDX-License-Identifier: MIT
async function chat(url, lines) {
  try {
    const wss = new WebSocketStream(url);
    const { readable, writable } = await wss.opened;
    const reader = readable.getReader();
    const writer = writable.getWriter();
    for (const line of lines) {
      await writer.write(line);
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      console.log(value);
      if (value === lines[lines.length - 1]) break;
    }
    wss.close({ closeCode: 1000, reason: "done" });
    const { closeCode, reason } = await wss.closed;
    console.log(`closed ${closeCode} ${reason}`);
    return 0;
  } catch (error) {
    console.error(`stream_client: ${error.message}`);
    return 1;
  }
}
