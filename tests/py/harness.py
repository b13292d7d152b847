"""What every slixmpp scenario in tests/py shares: the command line the Rust harness passes
(tests/src/slix.rs) and the run loop (log in, wait for the scenario's verdict within the
timeout, disconnect). A scenario adds its own arguments and a client whose `done` future
resolves to True (passed) or False (failed), printing `RESULT:` lines on the way."""

import argparse
import asyncio
import logging
import sys


def parser():
    """The arguments every scenario takes; add the scenario's own to it."""
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--ca", required=True)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mech", required=True)
    p.add_argument("--debug", action="store_true")
    return p


async def run(client, args):
    """Connects `client`, waits for its verdict; the process exit code: 0 passed, 1 failed,
    2 timed out."""
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    client.connect(host=args.host, port=args.port)
    try:
        ok = await asyncio.wait_for(client.done, timeout=args.timeout)
    except asyncio.TimeoutError:
        print("RESULT: timeout", flush=True)
        await client.disconnect(wait=1)
        return 2
    await client.disconnect(wait=1)
    return 0 if ok else 1
