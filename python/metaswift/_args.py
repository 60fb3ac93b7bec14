"""Checks of plain Python arguments (numbers, names) before they reach the
engine, with messages that name the argument, as the engine's do."""
import operator

from . import _core

INT64 = (-2**63, 2**63)


def integer(value, name):
    """``value`` as a Python int in the int64 range (bools and NumPy integers accepted)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise _core.Error(f"{name}: expected an integer, got {value!r}") from None
    if not INT64[0] <= v < INT64[1]:
        raise _core.Error(f"{name}: {v} is outside the int64 range")
    return v


def count(value, name, minimum=1):
    """An integer >= ``minimum``."""
    v = integer(value, name)
    if v < minimum:
        raise _core.Error(f"{name}: must be >= {minimum}, got {v}")
    return v


def real(value, name):
    """``value`` as a Python float (ints and NumPy scalars accepted; NaN is
    passed on for the engine to refuse with its own message)."""
    if value is None or isinstance(value, (str, bytes, complex)):
        raise _core.Error(f"{name}: expected a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _core.Error(f"{name}: expected a real number, got {value!r}") from None


def interval(value, name):
    """A pair ``(low, high)`` of real numbers."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        low, high = value
    except (TypeError, ValueError):
        raise _core.Error(f"{name}: expected a pair (low, high), got {value!r}") from None
    return real(low, f"{name}[0]"), real(high, f"{name}[1]")


def choice(value, name, options):
    """One of the strings ``options``."""
    if not isinstance(value, str) or value not in options:
        raise _core.Error(f"{name}: expected one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def renamed(error, names):
    """``error`` with its leading engine argument name replaced by the
    Python one (``{"decay": "alpha"}``), for keywords named as in PyTorch."""
    message = str(error)
    for engine, python in names.items():
        if message.startswith(engine + ":"):
            new = _core.Error(python + message[len(engine):])
            new.status = getattr(error, "status", None)
            return new
    return error
