"""The drill's model: toolkitrag/testing/fake_openai.py served from a small background process.

Stdlib only (run with Debian's /usr/bin/python3). Loads the module by its file path, so that
nothing else of the app (Django) is imported. Writes its base URL to --url-file once listening,
then serves until SIGTERM.
Usage: python3 fake_openai_server.py --module APP/toolkitrag/testing/fake_openai.py --url-file F
"""

import argparse
import importlib.util
import signal
import sys
import threading
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True, type=Path, help="path of fake_openai.py")
    parser.add_argument("--url-file", required=True, type=Path)
    # A small pause between tokens: the answer really streams, in pieces, through the proxy.
    parser.add_argument("--token-delay", type=float, default=0.02)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("fake_openai", args.module)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake = module.FakeOpenAI()
    fake.token_delay = args.token_delay
    fake.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    args.url_file.write_text(fake.base_url + "\n")
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
