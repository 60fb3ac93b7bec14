"""Arrays to engine tensors and back: NumPy arrays, anything NumPy reads, and
any object that exports DLPack go in; read-only NumPy views come out."""
import numpy as np

from . import _core

# Kinds NumPy can turn into float32 without losing meaning: bool, signed and
# unsigned integers, floats. Complex, strings, bytes, objects, dates are refused.
_NUMERIC_KINDS = "biuf"


def read_array(x, name, what="a numeric array"):
    """``x`` as an ndarray of its own dtype, for argument ``name``: an object
    that exports DLPack through ``np.from_dlpack`` (a view of its memory when
    it is on the CPU), anything else through ``np.asarray``. Raises
    :class:`metaswift.Error` naming ``name`` when neither can read it."""
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        # Before np.asarray: an object with only __dlpack__ would become a
        # 0-d object array there, and DLPack views what __array__ may copy.
        try:
            return np.from_dlpack(x)
        except Exception as exc:  # the exporter's own types: BufferError, RuntimeError, TypeError...
            raise _core.Error(f"{name}: cannot read {type(x).__name__} through DLPack ({exc})") from None
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise _core.Error(f"{name}: cannot be read as {what} ({exc})") from None


def as_float32(x, name="x"):
    """``x`` as a C-contiguous, aligned float32 ndarray, for argument ``name``.

    A float32 C-contiguous aligned array is returned as is (no copy); other
    numeric arrays and nested sequences are converted (one copy). Any other
    object that exports DLPack (``__dlpack__``: a PyTorch tensor, a JAX array,
    ...) is read through ``np.from_dlpack``: a view of its memory when it is
    float32, C-contiguous and on the CPU, converted like any array otherwise.

        >>> a = np.ones((2, 3), dtype=np.float32)
        >>> as_float32(a) is a
        True
        >>> as_float32([[1, 2]]).dtype
        dtype('float32')

    Raises :class:`metaswift.Error` naming ``name`` for complex, string,
    object and other non-numeric data, and for a DLPack export that fails
    (memory on another device, a dtype NumPy does not know, ...).
    """
    arr = read_array(x, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise _core.Error(f"{name}: expected real numbers, got dtype {arr.dtype} "
                          f"({'complex' if arr.dtype.kind == 'c' else 'not numeric'})")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, with the element named
            out = np.require(arr, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])
    except MemoryError:
        raise _core.Error(f"{name}: {arr.size} elements of shape {arr.shape} do not fit in memory "
                          f"as float32") from None
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and out is not arr:
        beyond = np.isinf(out)
        if beyond.any():
            i = int(np.argmax((beyond & np.isfinite(arr)).ravel()))
            if np.isfinite(arr.flat[i]) and beyond.flat[i]:
                raise _core.Error(f"{name}: element {i} is {float(arr.flat[i])!r}, beyond float32's range "
                                  f"(+-3.4e38)")
    return out


def to_numpy(tensor):
    """A read-only ndarray viewing the tensor's engine memory (no copy); it
    keeps the tensor alive. Use ``np.array(...)`` for a writable copy.

    A plain ndarray, so NumPy's own ``__dlpack__`` exports it: zero-copy and
    flagged read-only to consumers of DLPack 1.0 (``np.from_dlpack`` keeps it
    read-only; ``torch.from_dlpack`` (2.13) ignores the flag and returns a
    writable tensor over engine memory), refused to older ones."""
    return np.asarray(tensor)


def zeros(n, name, dtype=np.float32):
    """A new zeroed 1-D array of ``n`` elements for the engine to write into,
    where ``n`` comes from argument ``name``: a length NumPy cannot allocate
    is a :class:`metaswift.Error` naming the argument."""
    try:
        return np.zeros(n, dtype=dtype)
    except (MemoryError, ValueError):
        raise _core.Error(f"{name}: {n} results of {np.dtype(dtype).itemsize} bytes do not fit in memory") from None
