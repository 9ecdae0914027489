// Drives Debian's headless Chromium through the DevTools protocol, with
// Node's ws as the DevTools client.
//   node browser.js chat PORT [https]
//                               two tabs, one chat_client ($CHAT_CLIENT)
//                               and one wscat ($WSCAT)
//                               chat in the room of /, a third tab in
//                               /?room=cats (each hears only its room),
//                               through chat_server on PORT; with https
//                               the page comes over https and chats over
//                               wss ($CHAT_CA: the CA chat_client trusts)
//   node browser.js eval URL EXPRESSION
//                               loads URL, prints EXPRESSION's value as JSON
// Exits 0 when every check holds; prints "FAIL ..." and exits 1 otherwise.
// SPDX-License-Identifier: MIT
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const WebSocket = require("ws");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
setTimeout(() => fail(new Error("timed out")), 60000).unref();
const children = [];

function fail(error) {
  console.log(`FAIL ${error.message}`);
  for (const child of children) child.kill("SIGKILL");
  process.exit(1);
}

// One of our programs, with its stdin and stdout on pipes: a Windows one
// (an .exe, tests/run.sh's Windows stage) under $EXE_WRAPPER, wine.
function run(program, args) {
  const wrapper = process.env.EXE_WRAPPER;
  const child = wrapper && program.endsWith(".exe")
    ? spawn(wrapper, [program, ...args]) : spawn(program, args);
  children.push(child);
  return child;
}

// Chromium with a fresh profile and no network of its own.
// With `insecure`, it takes the test CA's certificates without asking.
async function launch(insecure = false) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ws-chromium-"));
  const chromium = spawn(CHROMIUM, [
    ...(insecure ? ["--ignore-certificate-errors"] : []),
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(chromium);
  const endpoint = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: chromium.stderr });
    lines.on("line", (line) => {
      const m = line.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    chromium.on("exit", () => reject(new Error("chromium exited")));
  });
  const socket = new WebSocket(endpoint, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return new Devtools(socket);
}

class Devtools {
  constructor(socket) {
    this.socket = socket;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = [];
    this.alerts = []; // alert() dialogs any page opened
    socket.on("message", (data) => {
      const msg = JSON.parse(data);
      if (msg.id && this.pending.has(msg.id)) {
        const { resolve, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) reject(new Error(msg.error.message));
        else resolve(msg.result);
      } else if (msg.method) {
        for (const h of this.handlers) h(msg.method, msg.params, msg.sessionId);
      }
    });
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) =>
      this.pending.set(id, { resolve, reject }));
  }
  // A new tab on `url`; prompt() in it is answered with `answer`.
  async open(url, answer = "") {
    const { targetId } = await this.send("Target.createTarget",
      { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget",
      { targetId, flatten: true });
    this.handlers.push((method, params, sid) => {
      if (sid !== sessionId || method !== "Page.javascriptDialogOpening")
        return;
      if (params.type === "alert") this.alerts.push(params.message);
      this.send("Page.handleJavaScriptDialog",
          { accept: true, promptText: answer }, sessionId);
    });
    await this.send("Page.enable", {}, sessionId);
    await this.send("Page.navigate", { url }, sessionId);
    return sessionId;
  }
  async evaluate(sessionId, expression) {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate",
      { expression, returnByValue: true, awaitPromise: true }, sessionId);
    if (exceptionDetails) throw new Error(exceptionDetails.text);
    return result.value;
  }
  // Types `text` into the page's input and presses Enter, as a person would.
  async type(sessionId, text) {
    await this.evaluate(sessionId, "document.getElementById('input').focus()");
    await this.send("Input.insertText", { text }, sessionId);
    for (const type of ["keyDown", "keyUp"])
      await this.send("Input.dispatchKeyEvent", { type, key: "Enter",
        code: "Enter", windowsVirtualKeyCode: 13, text: "\r" }, sessionId);
  }
}

// The lines a tab shows, one per message <div>.
async function shown(devtools, sessionId) {
  return devtools.evaluate(sessionId, `(() => {
    const input = document.getElementById("input");
    return input ? [...document.querySelectorAll("div")].map((d) => d.textContent) : [];
  })()`);
}

async function until(check, what) {
  const deadline = Date.now() + 20000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function chat(port, scheme = "http") {
  const secure = scheme === "https";
  const url = `${scheme}://127.0.0.1:${port}/`;
  const devtools = await launch(secure);
  const ann = await devtools.open(url, "ann");
  const bea = await devtools.open(url, "bea");
  // Another room: the page at /?room=cats passes its query to its socket.
  const cat = await devtools.open(url + "?room=cats", "cat");
  const socketUrl = `${secure ? "wss" : "ws"}://127.0.0.1:${port}/`;
  const client = run(process.env.CHAT_CLIENT, [socketUrl, "--nick", "cli",
    ...(secure ? ["--ca", process.env.CHAT_CA] : [])]);
  const cliLines = [];
  readline.createInterface({ input: client.stdout })
    .on("line", (line) => cliLines.push(line));
  // wscat sends each line as it is and prints "message text LINE".
  const wscat = run(process.env.WSCAT, [socketUrl,
    ...(secure ? ["--ca", process.env.CHAT_CA] : [])]);
  const wscatLines = [];
  readline.createInterface({ input: wscat.stdout }).on("line", (line) => {
    if (line.startsWith("message text "))
      wscatLines.push(line.slice("message text ".length));
  });

  const everyone = async () => [await shown(devtools, ann),
    await shown(devtools, bea), cliLines, wscatLines];
  const all = async (line) =>
    (await everyone()).every((lines) => lines.includes(line));
  await until(() => all("Welcome to the chat room."), "the greeting");
  await until(async () => (await shown(devtools, cat)).length === 1,
    "the greeting in the other room");
  await devtools.type(ann, "hello from ann");
  await until(() => all("ann: hello from ann"), "ann's line");
  await devtools.type(bea, "hi from bea");
  await until(() => all("bea: hi from bea"), "bea's line");
  client.stdin.write("hey from cli\n");
  await until(() => all("cli: hey from cli"), "cli's line");
  wscat.stdin.write("wsc: hey from wscat\n");
  await until(() => all("wsc: hey from wscat"), "wscat's line");
  // Markup from another user is shown as text and never runs.
  const hostile = ["<script>alert(1)</script>",
    "<img src=x onerror=\"alert(2)\">"];
  for (const line of hostile) client.stdin.write(line + "\n");
  await until(() => all("cli: " + hostile[1]), "the markup as text");
  await devtools.type(cat, "meow");
  await until(async () => (await shown(devtools, cat)).length === 2,
    "cat's line in its room");

  const expected = ["Welcome to the chat room.", "ann: hello from ann",
    "bea: hi from bea", "cli: hey from cli", "wsc: hey from wscat",
    ...hostile.map((line) => "cli: " + line)];
  for (const lines of await everyone())
    if (JSON.stringify(lines) !== JSON.stringify(expected))
      throw new Error(`saw ${JSON.stringify(lines)}`);
  // Each room heard only itself.
  const cats = await shown(devtools, cat);
  if (JSON.stringify(cats) !==
      JSON.stringify(["Welcome to the chat room.", "cat: meow"]))
    throw new Error(`the other room saw ${JSON.stringify(cats)}`);
  for (const tab of [ann, bea])
    if (await devtools.evaluate(tab,
      "document.querySelectorAll('img, script').length !== 1"))
      throw new Error("a chat line became an element");
  if (devtools.alerts.length)
    throw new Error(`a chat line ran: alert(${devtools.alerts})`);
  console.log("ok every participant saw the greeting and every line of its room, in order");
  // Both leave at the end of their input, and exit 0 (a clean close).
  const exited = [client, wscat].map((child) =>
    new Promise((resolve) => child.on("exit", resolve)));
  client.stdin.end();
  wscat.stdin.end();
  const codes = await Promise.all(exited);
  if (codes.some((code) => code !== 0))
    throw new Error(`chat_client and wscat exited ${codes}`);
}

async function evaluate(url, expression) {
  const devtools = await launch();
  const tab = await devtools.open(url);
  await until(async () => devtools.evaluate(tab,
    "document.readyState === 'complete'"), "the page load");
  console.log(JSON.stringify(await devtools.evaluate(tab, expression)));
}

const [mode, ...args] = process.argv.slice(2);
(mode === "chat" ? chat(args[0], args[1]) : evaluate(args[0], args[1])).then(() => {
  for (const child of children) child.kill("SIGKILL");
  process.exit(0);
}, fail);
