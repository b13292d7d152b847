#!/usr/bin/env python3
"""A second device syncing history with slixmpp's XEP-0313 plugin, for Tessera's e2e tests.

Connects to --host/--port with STARTTLS, trusting only --ca, authenticates with exactly --mech,
then pages through the user's own message archive with slixmpp's `xep_0313.iterate` (which drives
`xep_0059` RSM paging: `after` forwards, `before` backwards when --backward), --page results per
page, and compares the bodies it gets with --expect (comma-separated, oldest first; received in
reverse when paging backwards). It also asks for the archive metadata and checks that its
`start`/`end` ids are the first and last ids paged.

Prints RESULT: lines (session-started, mam-received <n>, mam-order-ok, mam-order-wrong,
metadata-ok, metadata-wrong) and exits 0 when everything matched, 1 otherwise, 2 on timeout.
Prints only the test's own fixed message texts, never the password.
"""

import asyncio
import sys
from pathlib import Path

import slixmpp

import harness


class SyncClient(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(
            args.jid,
            args.password,
            plugin_config={"feature_mechanisms": {"use_mech": args.mech}},
        )
        self.args = args
        for plugin in ("xep_0030", "xep_0004", "xep_0059", "xep_0297", "xep_0313"):
            self.register_plugin(plugin)
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_all_auth", lambda _e: self.finish(False))

    def finish(self, ok):
        if not self.done.done():
            self.done.set_result(ok)

    async def on_session_start(self, _event):
        print("RESULT: session-started", flush=True)
        try:
            self.finish(await self.sync())
        except Exception as e:  # noqa: BLE001 - any failure is the test's result
            print(f"RESULT: error {type(e).__name__}", flush=True)
            self.finish(False)

    async def sync(self):
        mam = self.plugin["xep_0313"]
        bodies, ids = [], []
        async for message in mam.iterate(
            reverse=self.args.backward, rsm={"max": self.args.page}
        ):
            result = message["mam_result"]
            ids.append(result["id"])
            bodies.append(result["forwarded"]["stanza"]["body"])
        print(f"RESULT: mam-received {len(bodies)}", flush=True)
        expected = self.args.expect.split(",")
        if self.args.backward:
            expected.reverse()
        ok = bodies == expected
        print(f"RESULT: mam-order-{'ok' if ok else 'wrong'}", flush=True)
        if not ok:
            print(f"got {bodies}", file=sys.stderr, flush=True)
        meta = (await mam.get_archive_metadata())["mam_metadata"]
        oldest, newest = (ids[-1], ids[0]) if self.args.backward else (ids[0], ids[-1])
        meta_ok = meta["start"]["id"] == oldest and meta["end"]["id"] == newest
        print(f"RESULT: metadata-{'ok' if meta_ok else 'wrong'}", flush=True)
        return ok and meta_ok


async def main():
    parser = harness.parser()
    parser.add_argument("--page", type=int, default=10)
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--expect", required=True)
    args = parser.parse_args()
    return await harness.run(SyncClient(args), args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
