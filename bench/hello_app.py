"""The baseline of the benchmark: a bare Bottle app served by waitress, answering "Hello, world!".

It does nothing per request but route and answer a fixed short body, so its requests/s is
the ceiling that Bottle + waitress reach on this machine. `bench_cep.py` compares the CEP
lookup against it.

Every GET path is accepted, so the very same wrk script (the same /ceps/NNNNNNNN paths)
drives both servers: the only difference left is the work done by the application.

Usage: python bench/hello_app.py PORT   (listens on 127.0.0.1 only)
"""
import sys

import bottle
import waitress

app = bottle.Bottle()


@app.get("/<path:path>")
def hello(path):
    return b"Hello, world!\n"


def main(argv=sys.argv[1:]):
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python bench/hello_app.py PORT", file=sys.stderr)
        return 2
    # No `threads=` on purpose: `python -m cep_api` does not pass one either, so both
    # servers use the same waitress default (4 threads).
    waitress.serve(app, host="127.0.0.1", port=int(argv[0]), ident="hello")
    return 0


if __name__ == "__main__":
    sys.exit(main())
