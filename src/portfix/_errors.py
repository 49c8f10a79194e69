import errno
class BindError(OSError):
    pass
class PortInUseError(BindError):
    def __init__(self, *a, **k):
        OSError.__init__(self, *a)
        self.host = k.get("host"); self.port = k.get("port"); self.holders = []
def is_address_in_use(exc):
    return getattr(exc, "errno", None) in (errno.EADDRINUSE, 98, 48, 10048) or getattr(exc, "winerror", None) in (10048, 10013)
def port_in_use_error(exc, host, port, lookup=None):
    return PortInUseError(exc.errno, "%s:%s is in use; try port=0" % (host, port), host=host, port=port)
