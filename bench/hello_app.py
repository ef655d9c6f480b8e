"""The ceiling of the benchmarks: a bare Bottle app served by waitress, answering "Hello, world!".

It does nothing per request but route and answer a short fixed body, so its requests/s is the most
Bottle + waitress reach on this machine. It answers every GET path, so the very same wrk script
(the same /ceps/NNNNNNNN paths) drives it and the service it is compared with: the only difference
left is the application's own work.  Usage: python bench/hello_app.py PORT  (127.0.0.1 only)
"""
import sys

import bottle
import waitress

app = bottle.Bottle()


@app.get("/<path:path>")
def hello(path):
    """The same few bytes, whatever the path."""
    return b"Hello, world!\n"


if __name__ == "__main__":
    # No `threads=`: the services do not pass one either, so all use waitress's default (4 threads).
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), ident="hello")
