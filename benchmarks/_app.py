"""The benchmarks' server child: a one-route Flask app served by ``app.run`` on 127.0.0.1.

    python _app.py PORT [--portfix] [--pick] [--keepalive] [--tag TEXT]

--portfix    import portfix first (it honours PORTFIX_DISABLE); without it,
             portfix is not imported at all.
--pick       ignore PORT: bind a socket to port 0, read its port, close it, and
             run on that port (the picker pytest-flask's live_server uses);
             prints "picked PORT" first.
--keepalive  serve HTTP/1.1 (keep-alive) with TCP_NODELAY, and log no request
             lines, so that a request costs the same in every run and the
             output pipe stays quiet.
--tag TEXT   the body of GET / (tells parallel instances apart).

Python 3.6 compatible, stdlib + Flask only.
"""

import argparse
import socket
import sys


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--portfix", action="store_true")
    parser.add_argument("--pick", action="store_true")
    parser.add_argument("--keepalive", action="store_true")
    parser.add_argument("--tag", default="ok")
    args = parser.parse_args(argv)

    if args.portfix:
        import portfix  # noqa: F401  (patches on import unless PORTFIX_DISABLE is set)
    import flask

    if args.keepalive:
        from werkzeug.serving import WSGIRequestHandler

        # http.server keeps a connection open only for HTTP/1.1; Flask sends
        # Content-Length, so each response ends without closing it.
        WSGIRequestHandler.protocol_version = "HTTP/1.1"
        # Werkzeug writes the headers and the body separately; with Nagle's
        # algorithm the body then waits for the client's delayed ACK (40 ms
        # on Linux), and every run would measure that timer instead.
        WSGIRequestHandler.disable_nagle_algorithm = True
        WSGIRequestHandler.log_request = lambda self, *args, **kwargs: None

    app = flask.Flask("bench")
    body = args.tag

    @app.route("/")
    def index():
        return body

    port = args.port
    if args.pick:
        picker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        picker.bind(("127.0.0.1", 0))
        port = picker.getsockname()[1]
        picker.close()
        sys.stdout.write("picked %d\n" % port)
        sys.stdout.flush()
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
