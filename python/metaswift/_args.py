"""Checks of plain Python arguments (numbers, names) before they reach the
engine, with messages that name the argument, as the engine's do."""
import operator

import numpy as np

from . import _core

INT64 = (-2**63, 2**63)


def shown(value):
    """``repr(value)`` for a message: integers too long to print in full
    (Python refuses beyond 4300 digits) are shown by their size."""
    if isinstance(value, int) and not -10**30 < value < 10**30:
        return f"{'a negative' if value < 0 else 'a'} {value.bit_length()}-bit integer"
    try:
        return repr(value)
    except ValueError:  # a container holding such an integer
        return f"a {type(value).__name__} too long to show"


def integer(value, name):
    """``value`` as a Python int in the int64 range (bools and NumPy integers accepted)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise _core.Error(f"{name}: expected an integer, got {shown(value)}") from None
    if not INT64[0] <= v < INT64[1]:
        raise _core.Error(f"{name}: {shown(v)} is outside the int64 range")
    return v


def flag(value, name):
    """``value`` as a bool: True, False (or NumPy's), 0 or 1; anything else is an error naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise _core.Error(f"{name}: expected True or False, got {shown(value)}")


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
        raise _core.Error(f"{name}: expected a real number, got {shown(value)}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _core.Error(f"{name}: expected a real number, got {shown(value)}") from None
    except OverflowError:
        raise _core.Error(f"{name}: {shown(value)} is too large for a float") from None


def interval(value, name):
    """A pair ``(low, high)`` of real numbers."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        low, high = value
    except (TypeError, ValueError):
        raise _core.Error(f"{name}: expected a pair (low, high), got {shown(value)}") from None
    return real(low, f"{name}[0]"), real(high, f"{name}[1]")


def choice(value, name, options):
    """One of the strings ``options``."""
    if not isinstance(value, str) or value not in options:
        raise _core.Error(f"{name}: expected one of {', '.join(map(repr, options))}, got {shown(value)}")
    return value


def text(value, name, expected):
    """A str the engine can take: no NUL character, encodable as UTF-8
    (``expected`` says what is wanted, for the message)."""
    if not isinstance(value, str):
        raise _core.Error(f"{name}: expected {expected}, got {shown(value)}")
    if "\0" in value:
        raise _core.Error(f"{name}: {value!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _core.Error(f"{name}: {value!r} is not valid Unicode (lone surrogate)") from None
    return value


def fixed(name, doc, what):
    """A read-only attribute backed by ``_<name>``: the engine object was
    built with this value, so assigning a new one (which it would not see) is
    refused. Lists are returned as copies."""
    def get(self):
        value = getattr(self, "_" + name)
        return list(value) if isinstance(value, list) else value
    return property(get, doc=f"{doc} Fixed when {what} is made; make a new one to change it.")


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
