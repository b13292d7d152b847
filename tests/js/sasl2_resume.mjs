// XEP-0388 SASL2 + XEP-0386 Bind 2 with inline XEP-0198, driven by xmpp.js (@xmpp/client), which
// logs in that way whenever the server offers it.
//
// alice logs in (SASL2, Bind 2 with a tag, stream management enabled inline) and bob logs in. bob
// sends m1; alice gets it. alice's TCP connection is then cut without closing the stream; bob
// sends m2 and m3 to alice's full JID while she is away; xmpp.js reconnects and resumes inline
// (SASL2 <authenticate/> carrying <resume/>), and alice must get m2 and m3, once each, on the same
// full JID. The first login also gets an XEP-0484 FAST token, which the reconnection logs in with
// (HT-SHA-256-NONE, one round trip, no password). Prints `RESULT: …` lines; exits 0 only if every check held.
//
// Usage: node sasl2_resume.mjs --host H --port P --timeout S (the test CA comes in through
// NODE_EXTRA_CA_CERTS).
import { client } from "@xmpp/client";
import xml from "@xmpp/xml";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    host: { type: "string" },
    port: { type: "string" },
    timeout: { type: "string", default: "20" },
    password: { type: "string", default: "a password" },
  },
});
const service = `xmpp://${values.host}:${values.port}`;
const timeoutMs = Number(values.timeout) * 1000;

function result(line) {
  console.log(`RESULT: ${line}`);
}

function until(emitter, event, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeoutMs);
    const listener = (...args) => {
      if (pred(...args)) {
        clearTimeout(timer);
        emitter.removeListener(event, listener);
        resolve(args[0]);
      }
    };
    emitter.on(event, listener);
  });
}

function make(username, resource) {
  const c = client({ service, domain: "localhost", username, password: values.password, resource });
  c.on("error", (e) => console.error(`${username}: ${e}`));
  return c;
}

const alice = make("alice", "xmppjs");
const bob = make("bob", "bob");
const bodies = [];
alice.on("stanza", (s) => {
  if (s.is("message") && s.getChildText("body")) bodies.push(s.getChildText("body"));
});

let mechanism = null;
const mechanisms = [];
alice.on("send", (el) => {
  if (el.is("authenticate", "urn:xmpp:sasl:2")) {
    mechanism = "sasl2";
    mechanisms.push(el.attrs.mechanism);
  }
  if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) mechanism = "sasl1";
});
let tokens = 0;
const saveToken = alice.fast.saveToken.bind(alice.fast);
alice.fast.saveToken = async (t) => {
  tokens++;
  return saveToken(t);
};

const online = until(alice, "online");
await alice.start();
await online;
const first = alice.jid.toString();
result(`login ${mechanism}`);
result(`bound ${first.startsWith("alice@localhost/xmppjs/") ? "tag/identifier" : first}`);
result(`sm ${alice.streamManagement.enabled && alice.streamManagement.id ? "enabled-resumable" : "off"}`);

await bob.start();
const to = first;
const send = (body) => bob.send(xml("message", { to, type: "chat" }, xml("body", {}, body)));

await send("m1");
await until(alice, "stanza", (s) => s.is("message") && s.getChildText("body") === "m1");

// Cut the TCP connection under the stream: no </stream:stream>, as a phone losing its network.
const resumed = until(alice.streamManagement, "resumed");
alice.socket.socket?.destroy?.() ?? alice.socket.destroy();
await until(alice, "disconnect");
await send("m2");
await send("m3");
await resumed;
await until(alice, "stanza", (s) => s.is("message") && s.getChildText("body") === "m3").catch(() => {});
// Anything resent twice would have arrived by now.
await new Promise((r) => setTimeout(r, 300));
result(`resumed ${mechanism} same-jid=${alice.jid.toString() === first}`);
result(`bodies ${bodies.join(",")}`);
// XEP-0484: the password login asked for a FAST token, and the reconnection used it.
result(`tokens ${tokens}`);
result(`mechanisms ${mechanisms.join(",")}`);

await bob.stop();
await alice.stop();
process.exit(0);
