"""Port validation and resolution: the reference semantics of Flask >= 2.0."""

import socket

import pytest

from portfix._ports import DEFAULT_PORT, bound_port, resolve_port, server_name_port, validate_port

# Cell-independent: pure port parsing and resolution, and a plain socket.
pytestmark = pytest.mark.cell_independent


@pytest.mark.parametrize("value, expected", [(0, 0), (1, 1), (5000, 5000), (65535, 65535), ("0", 0), ("8080", 8080), (" 8080\n", 8080)])
def test_valid_ports(value, expected):
    assert validate_port(value) == expected
    assert type(validate_port(value)) is int


@pytest.mark.parametrize(
    "value, error",
    [
        (-1, ValueError), (65536, ValueError), (70000, ValueError), ("70000", ValueError), ("-1", ValueError),
        ("+80", ValueError), ("", ValueError), ("   ", ValueError), ("abc", ValueError), ("8_080", ValueError),
        (u"\u0661\u0662", ValueError), ("1.5", ValueError), (1.5, TypeError), (8080.0, TypeError),
        (True, TypeError), (False, TypeError), (None, TypeError), (b"80", TypeError), ([80], TypeError),
    ],
)
def test_invalid_ports_name_the_value(value, error):
    with pytest.raises(error) as info:
        validate_port(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "server_name, expected",
    [
        (None, None), ("", None), ("example.com", None), ("example.com:", None), ("example.com:8080", 8080),
        ("example.com:0", 0), (":80", 80), ("[::1]:8080", 8080), ("[::1]", None), ("[::1]:", None),
    ],
)
def test_server_name_port(server_name, expected):
    assert server_name_port(server_name) == expected


@pytest.mark.parametrize("server_name", ["example.com:abc", "example.com:70000", "a:b:c", "example.com:-1"])
def test_bad_server_name_port_names_the_server_name(server_name):
    with pytest.raises(ValueError) as info:
        server_name_port(server_name)
    assert repr(server_name) in str(info.value)


def test_server_name_must_be_text():
    with pytest.raises(TypeError):
        server_name_port(b"example.com:80")


@pytest.mark.parametrize(
    "port, server_name, expected",
    [
        (None, None, DEFAULT_PORT),
        (None, "example.com", DEFAULT_PORT),  # D3: Flask 1.1 raised here
        (None, "example.com:8080", 8080),
        (0, "example.com:8080", 0),  # D1: Flask 1.0.x used 8080
        ("0", None, 0),
        (0, None, 0),  # D1: Flask 1.0.x used 5000
        (9000, "example.com:8080", 9000),
        ("9000", None, 9000),  # D2: Flask 0.x passed the str on
    ],
)
def test_resolve_port_reference_semantics(port, server_name, expected):
    assert resolve_port(port, server_name) == expected


def test_explicit_bad_port_is_reported_even_with_server_name():
    with pytest.raises(ValueError):
        resolve_port("abc", "example.com:8080")


def test_bound_port_reads_the_socket():
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        assert bound_port(sock) == sock.getsockname()[1] != 0
    finally:
        sock.close()


def test_bound_port_of_a_unix_socket_is_none(tmp_path):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no AF_UNIX here")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp_path / "s"))
        assert bound_port(sock) is None
    finally:
        sock.close()
