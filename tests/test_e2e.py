"""End to end on every cell: a real server on port 0, the port learned from the
"Running on" line, checked to listen and to serve; with the reloader, the
port is announced once and stays the same across a reload."""

import os
import time

import pytest

from portfix._process import RUNNING_ON

from _support import BOUND_SPY, MODES, busy_port, http_get, port_for_app_run, serve_pid_program, is_listening, shows_defect, start, wait_running_on, worker_server

def _program(options="", port=0):
    return serve_pid_program(options, port)


def test_port_zero_end_to_end_while_5000_is_busy():
    with busy_port(5000):
        with start(_program(), disabled=False) as child:
            port = wait_running_on(child)
            assert port not in (0, 5000)
            assert is_listening(port)
            status, body = http_get(port)
            assert status == 200 and body == "pid %d" % child.pid


@pytest.mark.parametrize("disabled", MODES)
def test_reloader_announces_once_and_keeps_the_port(disabled, tmp_path):
    trigger = tmp_path / "trigger.txt"
    trigger.write_text(u"0")
    options = ", use_reloader=True, extra_files=[%r], reloader_interval=0.2" % str(trigger)
    with port_for_app_run(disabled) as port, start(BOUND_SPY + _program(options, port), disabled, path=tmp_path / "app.py") as child:
        first_port, first_pid = worker_server(child)
        assert http_get(first_port)[1] == "pid %d" % first_pid
        time.sleep(0.5)  # let the reloader record the trigger's mtime
        os.utime(str(trigger), (time.time() + 5, time.time() + 5))
        second_port, second_pid = worker_server(child)
        assert second_pid != first_pid
        assert http_get(second_port)[1] == "pid %d" % second_pid
        announced = [int(m.group(3)) for m in map(RUNNING_ON.search, child.output().splitlines()) if m]

    if shows_defect("D10", disabled):
        assert second_port != first_port
    else:
        assert second_port == first_port
    if shows_defect("D6", disabled):
        assert announced == []
    elif shows_defect("D5", disabled):
        assert announced == [0]
    else:
        assert announced == [first_port]
