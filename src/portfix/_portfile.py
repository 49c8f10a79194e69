"""The port file: how a process tells others which port it bound.

When ``PORTFIX_PORT_FILE`` names a path, the process that binds the dev
server's listening socket writes the bound port there once the socket
listens.  The format is the port number in ASCII decimal followed by one
newline, e.g. ``"43589\\n"``.

The file is written atomically: a temporary file in the same folder, then a
rename over the path.  A reader sees no file or the whole number, never a
partial one.  A symlink planted at the path is replaced, not followed.
"""

import os
import re
import tempfile

from ._defects import PORT_FILE_ENV

_CONTENT = re.compile(r"\A([0-9]{1,5})\n\Z")


def port_file_path():
    """Return the path in ``PORTFIX_PORT_FILE``, or None when it is unset or empty.

    Raises:
        ValueError: the path is an existing folder, or its folder does not
            exist; raised before the server binds, naming the path.
    """
    path = os.environ.get(PORT_FILE_ENV, "")
    if not path.strip():
        return None
    if os.path.isdir(path):
        raise ValueError("%s=%r is a folder, not a file path" % (PORT_FILE_ENV, path))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError("%s=%r: folder %r does not exist" % (PORT_FILE_ENV, path, folder))
    return path


def read_port_file(path):
    """Return the port in the port file at *path*, or None.

    Args:
        path (str): the port file.

    Returns:
        int or None: None when the file does not exist (yet) or does not hold
        exactly ``"<port>\\n"``.
    """
    try:
        with open(path) as f:
            text = f.read(16)
    except (IOError, OSError):
        return None
    match = _CONTENT.match(text)
    return int(match.group(1)) if match else None


def write_port_file(path, port):
    """Write ``"<port>\\n"`` to *path* atomically.

    Args:
        path (str): the port file; a symlink there is replaced, not followed.
        port (int): the bound port.

    Returns:
        bool: False when the file already held exactly this port and was left
        as it is (a reloader worker that rebinds the same port on Werkzeug
        <= 0.10), True when written.

    Raises:
        OSError: the folder is not writable, or the rename failed.  The
            temporary file is removed then.
    """
    if not os.path.islink(path) and read_port_file(path) == port:
        return False
    content = "%d\n" % port
    fd, temporary = tempfile.mkstemp(prefix=".portfix-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; readers may be other users
        os.replace(temporary, path)  # rename(2): atomic, replaces a symlink itself
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return True
