// ReconnectingWebSocket: what ws::ClientOptions::reconnect does, written by
// hand over Node's `ws` (which leaves reconnection to the program: its issue
// 2050), so that chat_client.js can stay the twin of chat_client.cpp. The
// same options (options.reconnect: enabled, initialDelay, factor, maxDelay,
// maxAttempts, minUptime, afterPolicyClose) and the same events: while
// another attempt is coming, "reconnecting" fires where "close" would, and
// "close" fires once, at the end. Without options.reconnect.enabled it is
// one WebSocket, as Node's. options.pingInterval is ws::ClientOptions's
// heartbeat (30000 ms when reconnecting, unless set): a ping every
// interval; when neither its pong nor a message has come by the next one,
// the connection is dropped (error, then close 1006).
// SPDX-License-Identifier: MIT
const WebSocket = require("ws");

class ReconnectingWebSocket {
  constructor(url, protocols, options = {}) {
    this.url = url;
    this.protocols = protocols;
    this.options = options;
    this.reconnect = {
      enabled: false, initialDelay: 1000, factor: 2, maxDelay: 30000,
      maxAttempts: 0, minUptime: 5000, afterPolicyClose: false,
      ...options.reconnect,
    };
    this.attempt = 0;
    this.pingInterval = options.pingInterval ||
      (this.reconnect.enabled ? 30000 : 0);
    this.onopen = this.onmessage = this.onerror = null;
    this.onclose = this.onreconnecting = null;
    this.connect();
  }

  get readyState() {
    return this.socket ? this.socket.readyState : WebSocket.CONNECTING;
  }

  connect() {
    const socket = new WebSocket(this.url, this.protocols, this.options);
    this.socket = socket;
    let openSince;
    let healable = true;
    let heard = true;
    let heartbeat;
    socket.on("pong", () => { heard = true; });
    socket.onopen = (event) => {
      openSince = Date.now();
      if (this.pingInterval)
        heartbeat = setInterval(() => {
          if (!heard) {
            const message = `No pong came back within ${this.pingInterval} ` +
              "ms, and no other data: the connection is dead.";
            if (this.onerror) this.onerror({ type: "error", message });
            socket.terminate();
            return;
          }
          heard = false;
          socket.ping();
        }, this.pingInterval);
      if (this.onopen) this.onopen(event);
    };
    socket.onmessage = (event) => {
      heard = true;
      if (this.onmessage) this.onmessage(event);
    };
    socket.onerror = (event) => {
      // A 4xx answer other than 429, or a certificate that fails: asking
      // again will not help.
      const status = /Unexpected server response: (\d+)/.exec(event.message);
      if ((status && status[1] >= 400 && status[1] < 500 && status[1] != 429) ||
          /certificate/i.test(event.message))
        healable = false;
      if (this.onerror) this.onerror(event);
    };
    socket.onclose = (event) => {
      clearInterval(heartbeat);
      if (openSince !== undefined &&
          Date.now() - openSince >= this.reconnect.minUptime)
        this.attempt = 0;
      if (!healable || !this.mayReconnect(event.code)) {
        if (this.onclose) this.onclose(event);
        return;
      }
      const attempt = ++this.attempt;
      const delay = this.backoff(attempt);
      this.socket = undefined;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.connect();
      }, delay);
      if (this.onreconnecting)
        this.onreconnecting({ type: "reconnecting", code: event.code,
                              reason: event.reason, wasClean: event.wasClean,
                              attempt, delay });
    };
  }

  mayReconnect(code) {
    const r = this.reconnect;
    if (!r.enabled || this.closing) return false;
    if (r.maxAttempts && this.attempt >= r.maxAttempts) return false;
    if (code === 1000) return false;
    const policy = code === 1008 || (code >= 4000 && code <= 4999);
    return !policy || r.afterPolicyClose;
  }

  // initialDelay * factor^(n-1), at most maxDelay, then a random point
  // between half and all of it.
  backoff(n) {
    const r = this.reconnect;
    const most = Math.min(r.maxDelay,
                          r.initialDelay * Math.pow(r.factor, n - 1));
    return Math.floor(most * (0.5 + Math.random() / 2));
  }

  send(data) {
    if (!this.socket)
      throw new Error("Failed to execute 'send' on 'WebSocket': " +
                      "Still in CONNECTING state.");
    this.socket.send(data);
  }

  close(code, reason) {
    this.closing = true;
    if (this.socket) return this.socket.close(code, reason);
    // Waiting to reconnect: the wait ends as a connection attempt would.
    clearTimeout(this.timer);
    const message = "WebSocket is closed before the connection is established.";
    if (this.onerror) this.onerror({ type: "error", message });
    if (this.onclose)
      this.onclose({ type: "close", code: 1006, reason: "", wasClean: false });
  }
}

module.exports = ReconnectingWebSocket;
