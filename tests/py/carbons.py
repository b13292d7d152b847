#!/usr/bin/env python3
"""A slixmpp client that enables Message Carbons (XEP-0280) for Tessera's end-to-end tests.

Connects to --host/--port with STARTTLS, trusting only --ca, as --jid (with its resource) using
--mech; sends initial presence; checks the server's disco#info lists urn:xmpp:carbons:2; enables
carbons with slixmpp's xep_0280 plugin; then waits for
  a `received` carbon whose forwarded message has --received-body, and
  a `sent` carbon whose forwarded message has --sent-body,
failing if a carbon of a message with --private-body arrives first (the test sends that one
before the --sent-body one, from the same resource, so its copy would come first).
Prints RESULT: lines (session-started, feature-listed, carbons-enabled, carbon-received,
carbon-sent, private-copied, enable-error <condition>) and exits 0 when both carbons arrived and
no private one did, 1 otherwise, 2 on timeout. Never prints anything but the test's fixed bodies.
"""

import asyncio
import sys
from pathlib import Path

import slixmpp

import harness
from slixmpp.exceptions import IqError

CARBONS = "urn:xmpp:carbons:2"


class CarbonsClient(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": {"use_mech": args.mech}},
        )
        self.args = args
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0297")
        self.register_plugin("xep_0280")
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.done = asyncio.get_event_loop().create_future()
        self.got_received = False
        self.got_sent = False
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("carbon_received", self.on_carbon_received)
        self.add_event_handler("carbon_sent", self.on_carbon_sent)
        self.add_event_handler("failed_all_auth", lambda _e: self.finish(False))
        self.add_event_handler("connection_failed", lambda _e: self.finish(False))

    def finish(self, ok):
        if not self.done.done():
            self.done.set_result(ok)

    async def on_session_start(self, _event):
        print("RESULT: session-started", flush=True)
        self.send_presence()
        try:
            info = await self.plugin["xep_0030"].get_info(jid=self.boundjid.domain)
            if CARBONS in info["disco_info"]["features"]:
                print("RESULT: feature-listed", flush=True)
            await self.plugin["xep_0280"].enable()
        except IqError as e:
            print(f"RESULT: enable-error {e.iq['error']['condition']}", flush=True)
            self.finish(False)
            return
        print("RESULT: carbons-enabled", flush=True)

    def check_private(self, body):
        if body == self.args.private_body:
            print("RESULT: private-copied", flush=True)
            self.finish(False)
            return True
        return False

    def on_carbon_received(self, msg):
        body = msg["carbon_received"]["body"]
        if self.check_private(body):
            return
        if body == self.args.received_body:
            print("RESULT: carbon-received", flush=True)
            self.got_received = True
            self.maybe_done()

    def on_carbon_sent(self, msg):
        body = msg["carbon_sent"]["body"]
        if self.check_private(body):
            return
        if body == self.args.sent_body:
            print("RESULT: carbon-sent", flush=True)
            self.got_sent = True
            self.maybe_done()

    def maybe_done(self):
        if self.got_received and self.got_sent:
            self.finish(True)


async def main():
    parser = harness.parser()
    parser.add_argument("--received-body", required=True)
    parser.add_argument("--sent-body", required=True)
    parser.add_argument("--private-body", required=True)
    args = parser.parse_args()
    return await harness.run(CarbonsClient(args), args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
