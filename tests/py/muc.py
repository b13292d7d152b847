#!/usr/bin/env python3
"""A slixmpp client that enters a Multi-User Chat room (XEP-0045) for Tessera's end-to-end tests.

Connects to --host/--port with STARTTLS, trusting only --ca, as --jid using --mech; sends initial
presence; enters --room as --nick with slixmpp's xep_0045 `join_muc_wait` (which waits for the
room's own presence with status 110); checks the occupant list it got before that has
--expect-nick and the room's subject is --expect-subject; sends a groupchat message with --body
and waits for the room to reflect it from room/nick. Prints RESULT: lines (session-started,
joined <status codes>, occupant-seen, subject-seen, message-reflected, join-error <condition>)
and exits 0 when all were seen, 1 otherwise, 2 on timeout. Never prints anything but the test's
fixed strings.
"""

import asyncio
import sys
from pathlib import Path

import slixmpp
from slixmpp.exceptions import PresenceError

import harness


class MucClient(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": {"use_mech": args.mech}},
        )
        self.args = args
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler("failed_all_auth", lambda _e: self.finish(False))
        self.add_event_handler("connection_failed", lambda _e: self.finish(False))

    def finish(self, ok):
        if not self.done.done():
            self.done.set_result(ok)

    async def on_session_start(self, _event):
        print("RESULT: session-started", flush=True)
        self.send_presence()
        room = slixmpp.JID(self.args.room)
        try:
            own, subject, occupants, _history = await self.plugin["xep_0045"].join_muc_wait(
                room, self.args.nick, maxstanzas=0, timeout=self.args.timeout
            )
        except PresenceError as e:
            print(f"RESULT: join-error {e.condition}", flush=True)
            self.finish(False)
            return
        codes = sorted(int(c) for c in own["muc"]["status_codes"])
        print(f"RESULT: joined {' '.join(str(c) for c in codes)}", flush=True)
        if any(p["from"].resource == self.args.expect_nick for p in occupants):
            print("RESULT: occupant-seen", flush=True)
        if subject is not None and subject["subject"] == self.args.expect_subject:
            print("RESULT: subject-seen", flush=True)
        self.send_message(mto=room, mbody=self.args.body, mtype="groupchat")

    def on_groupchat(self, msg):
        if msg["from"].resource == self.args.nick and msg["body"] == self.args.body:
            print("RESULT: message-reflected", flush=True)
            self.finish(True)


async def main():
    parser = harness.parser()
    parser.add_argument("--room", required=True)
    parser.add_argument("--nick", required=True)
    parser.add_argument("--expect-nick", required=True)
    parser.add_argument("--expect-subject", required=True)
    parser.add_argument("--body", required=True)
    args = parser.parse_args()
    return await harness.run(MucClient(args), args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
