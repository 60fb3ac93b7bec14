"""Helpers shared by the tests that drive the C ABI through ctypes."""
import ctypes

MS_OK = 0


def error(lib):
    """The calling thread's last engine error message."""
    return lib.ms_last_error().decode()


def new(lib, function, *args):
    """Calls a constructor `function(out, *args)`; returns the new handle."""
    out = ctypes.c_void_p()
    status = getattr(lib, function)(ctypes.byref(out), *args)
    assert status == MS_OK, error(lib)
    return out
