#!/usr/bin/env python3
"""A slixmpp client for Tessera's end-to-end tests.

Connects to --host/--port (STARTTLS, or TLS from the first byte with --direct-tls), trusting only
--ca for the domain in --jid, and authenticates with exactly --mech. Then, optionally:
  --send-to JID --body TEXT      send a chat message
  --await-from JID --await-body TEXT
                                 wait for a chat message from that bare JID with that body
  --command NODE [--command-field VAR=VALUE] [--expect-note TEXT]
                                 XEP-0050 via slixmpp's xep_0050: list the server's commands,
                                 check NODE is listed, execute it; if it answers with a form,
                                 submit VAR=VALUE (an offered option) and complete; succeed
                                 when it completes (with a note of exactly TEXT, if given)
Prints RESULT: lines (session-started, auth-failed <condition>, sent, received, command-listed,
command-<status>, command-error <condition>) and exits
0 when the expected outcome happened (--expect success|failure), 1 otherwise, 2 on timeout.
Never prints the password or message bodies other than the test's own fixed text.
"""

import asyncio
import sys
from pathlib import Path

import slixmpp

import harness
from slixmpp.exceptions import IqError


class TestClient(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": {"use_mech": args.mech}},
        )
        self.args = args
        if args.command:
            self.register_plugin("xep_0030")
            self.register_plugin("xep_0004")
            self.register_plugin("xep_0050")
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = args.direct_tls
        self.enable_starttls = not args.direct_tls
        self.enable_plaintext = False
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("failed_all_auth", self.on_failed_all_auth)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("connection_failed", self.on_connection_failed)

    def finish(self, ok):
        if not self.done.done():
            self.done.set_result(ok)

    async def on_session_start(self, _event):
        print("RESULT: session-started", flush=True)
        if self.args.expect == "failure":
            self.finish(False)
            return
        self.send_presence()
        if self.args.send_to:
            self.send_message(mto=self.args.send_to, mbody=self.args.body, mtype="chat")
            print("RESULT: sent", flush=True)
        if self.args.command:
            self.finish(await self.run_command())
            return
        if not self.args.await_from:
            self.finish(True)

    async def run_command(self):
        node = self.args.command
        server = self.boundjid.domain
        adhoc = self.plugin["xep_0050"]
        try:
            listing = await adhoc.get_commands(jid=server)
            nodes = [item[1] for item in listing["disco_items"]["items"]]
            if node not in nodes:
                print("RESULT: command-not-listed", flush=True)
                return False
            print("RESULT: command-listed", flush=True)
            answer = (await adhoc.send_command(server, node, action="execute"))["command"]
            if answer["status"] == "executing" and self.args.command_field:
                var, value = self.args.command_field.split("=", 1)
                field = answer["form"].get_fields()[var]
                offered = [o["value"] for o in field["options"]]
                if value not in offered:
                    print("RESULT: command-option-missing", flush=True)
                    return False
                submit = self.plugin["xep_0004"].make_form(ftype="submit")
                submit.add_field(var=var, value=value)
                answer = (
                    await adhoc.send_command(
                        server,
                        node,
                        action="complete",
                        payload=submit,
                        sessionid=answer["sessionid"],
                    )
                )["command"]
        except IqError as e:
            print(f"RESULT: command-error {e.iq['error']['condition']}", flush=True)
            return False
        print(f"RESULT: command-{answer['status']}", flush=True)
        notes = [text for (_kind, text) in answer["notes"]]
        expected = self.args.expect_note
        return answer["status"] == "completed" and (expected is None or expected in notes)

    def on_failed_auth(self, stanza):
        print(f"RESULT: auth-failed {stanza['condition']}", flush=True)

    def on_failed_all_auth(self, _event):
        self.finish(self.args.expect == "failure")

    def on_connection_failed(self, error):
        print(f"RESULT: connection-failed {error}", flush=True)
        self.finish(False)

    def on_message(self, msg):
        if not self.args.await_from:
            return
        if msg["from"].bare == self.args.await_from and msg["body"] == self.args.await_body:
            print("RESULT: received", flush=True)
            self.finish(True)


async def main():
    parser = harness.parser()
    parser.add_argument("--direct-tls", action="store_true")
    parser.add_argument("--expect", choices=["success", "failure"], default="success")
    parser.add_argument("--send-to")
    parser.add_argument("--body")
    parser.add_argument("--await-from")
    parser.add_argument("--await-body")
    parser.add_argument("--command")
    parser.add_argument("--command-field")
    parser.add_argument("--expect-note")
    args = parser.parse_args()
    return await harness.run(TestClient(args), args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
