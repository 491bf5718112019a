"""``python -m sandbox --port N``: serve the embedded local AWS until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sandbox.server import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="TCP port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--clock-scale", type=float, default=1.0, help="sandbox seconds per real second")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sandbox = Sandbox(port=args.port, clock_scale=args.clock_scale).start()
    except OSError as exc:
        print(
            f"sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; choose another --port", file=sys.stderr
        )
        return 2
    print(f"Embedded local AWS listening on {sandbox.endpoint_url}", flush=True)
    print(
        f"export AWS_ENDPOINT_URL={sandbox.endpoint_url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"AWS_DEFAULT_REGION={sandbox.env()['AWS_DEFAULT_REGION']}",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
