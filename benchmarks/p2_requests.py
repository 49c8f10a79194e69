"""P2 request path: requests per second with portfix against the same server without it.

A round starts three ``_app.py`` children side by side: one with portfix on
(``app.run(port=0)``) and two with ``PORTFIX_DISABLE=1`` (on fixed free
ports, since port 0 becomes 5000 on Flask 1.0.x without portfix); each
learns its port from the "Running on" line.  All serve HTTP/1.1 and log no
request lines.  One keep-alive ``http.client.HTTPConnection`` per server
sends GET / in blocks, alternating between the servers (the order reversed
after each pass) until each got its request budget or its time budget.  The
round's figure is rps(portfix) / rps(disabled); the second disabled server
gives an A/A control, rps(control) / rps(disabled), which shows how far two
identical servers differ on this machine.  portfix patches nothing on the
request path, so both should be ~1.
"""

import contextlib
import http.client

from _common import clock, figure, say, start_server, summarize

TARGET = 0.99


class _Client(object):
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.sock = None
        self.requests = 0
        self.seconds = 0.0
        self.reconnects = 0  # a new TCP connection after the first: keep-alive failed

    def block(self, count):
        conn = self.conn
        start = clock()
        for _ in range(count):
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or body != b"ok":
                raise RuntimeError("GET / on port %d: %s %r" % (self.port, response.status, body[:80]))
            if conn.sock is not self.sock:
                if self.sock is not None or conn.sock is None:
                    self.reconnects += 1
                self.sock = conn.sock
        self.seconds += clock() - start
        self.requests += count

    def close(self):
        self.conn.close()


def _round(index, requests, seconds, block):
    """One round: three servers up, alternating blocks.  Returns {variant: client}.

    "control" is a second server with portfix disabled: control / disabled is
    an A/A ratio, the noise floor of this machine for this figure.
    """
    # Each pass goes through the servers in turn, the turn reversed after each
    # pass, so the server in the middle is always second: it measured a few
    # per cent faster on this machine, whichever it was.  The order rotates
    # with the round, so each variant is in the middle in one round of three
    # (9 rounds: 3 each), the start order too.
    variants = ["portfix", "disabled", "control"]
    variants = variants[index % 3:] + variants[:index % 3]
    clients = {}
    with contextlib.ExitStack() as stack:
        for variant in variants:
            child, port = start_server(portfix=True, keepalive=True, disable_portfix=variant != "portfix")
            stack.enter_context(child)
            clients[variant] = _Client(port)
            stack.callback(clients[variant].close)
        for client in clients.values():  # warm-up: connection, first-request setup
            client.block(20)
            client.requests, client.seconds = 0, 0.0
        order = list(variants)
        while True:
            pending = [v for v in order if clients[v].requests < requests and clients[v].seconds < seconds]
            if not pending:
                break
            for variant in pending:
                clients[variant].block(min(block, requests - clients[variant].requests))
            order.reverse()
    return clients


def run(quick=False):
    rounds, requests, seconds, block = (3, 600, 3.0, 50) if quick else (9, 2000, 10.0, 100)
    say("== P2 request path: keep-alive GET / on loopback, %d rounds of up to %d requests or %.0f s per server" % (rounds, requests, seconds))
    ratios = []
    controls = []
    rates = {"portfix": [], "disabled": [], "control": []}
    reconnects = 0
    for index in range(rounds):
        clients = _round(index, requests, seconds, block)
        rate = dict((v, c.requests / c.seconds) for v, c in clients.items())
        for variant in rates:
            rates[variant].append(rate[variant])
            reconnects += clients[variant].reconnects
        ratios.append(rate["portfix"] / rate["disabled"])
        controls.append(rate["control"] / rate["disabled"])
        say("   round %d: portfix %.0f, disabled %.0f, control %.0f req/s (%d/%d/%d requests); ratio %.3f, A/A control %.3f"
            % (index + 1, rate["portfix"], rate["disabled"], rate["control"], clients["portfix"].requests,
               clients["disabled"].requests, clients["control"].requests, ratios[-1], controls[-1]))
    for variant in ("portfix", "disabled", "control"):
        s = summarize(rates[variant])
        say("   %-8s median %.0f req/s (min-max %.0f-%.0f)" % (variant, s.median, s.min, s.max))
    if reconnects:
        say("   WARNING: %d reconnect(s): keep-alive was not used throughout" % reconnects)
    result = figure("P2", "P2 requests/s ratio portfix/disabled", ratios, ">= %.2f" % TARGET, None)
    result["met"] = result["median"] >= TARGET
    result["detail"] = {"requests_per_second": rates, "reconnects": reconnects}
    control = figure("P2-control", "P2 A/A control: disabled/disabled (noise floor)", controls, "info", None)
    say("   ratio median %s, %s" % (result["median_text"], result["spread_text"]))
    say("   A/A control median %s, %s" % (control["median_text"], control["spread_text"]))
    return [result, control]
