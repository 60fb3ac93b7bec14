"""Antialiased image resizing as two small matrix products.

A separable resampling filter turns resizing an ``n_in x n_in`` image to
``n_out x n_out`` into ``W @ X @ W.T``, where row ``i`` of the weight matrix
``W`` (``n_out x n_in``) says how much each input pixel contributes to output
pixel ``i``. A batch of images then costs two stacked matrix products, with
no Python loop.

Filters:
    "area": exact area averaging (OpenCV's INTER_AREA): an output pixel is the
        mean of the input over the square it covers, input pixels cut by its
        border counted by the fraction inside. Its weights are non-negative, so
        values stay in the input's range, and every input pixel contributes
        its whole area, so the total ink (the mean) is preserved exactly.
    "bilinear", "lanczos": Pillow's ``Image.resize`` with BILINEAR and LANCZOS
        (a = 3): the kernel is stretched by the reduction factor (that is the
        antialiasing), sampled at pixel centres and normalized per output
        pixel. Lanczos is sharper but rings: results can leave [0, 1] slightly
        and are clipped by the caller.
"""
import numpy as np

from . import _core

METHODS = ("area", "bilinear", "lanczos")


def _triangle(x):
    return np.maximum(1.0 - np.abs(x), 0.0)


def _lanczos3(x):
    return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


_KERNELS = {"bilinear": (_triangle, 1.0), "lanczos": (_lanczos3, 3.0)}


def weights(n_in, n_out, method="area"):
    """The ``(n_out, n_in)`` float64 weight matrix of ``method``; each row sums to 1.

    Example:
        >>> weights(4, 2, "area")
        array([[0.5, 0.5, 0. , 0. ],
               [0. , 0. , 0.5, 0.5]])
        >>> (weights(4, 2, "bilinear") * 7).round(6)  # a triangle stretched to 2 pixels
        array([[3., 3., 1., 0.],
               [0., 1., 3., 3.]])
    """
    if method not in METHODS:
        raise _core.Error(f"resample: expected one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if n_in == n_out:
        return np.eye(n_in)
    scale = n_in / n_out
    j = np.arange(n_in, dtype=np.float64)
    if method == "area":
        edges = np.arange(n_out + 1, dtype=np.float64) * scale
        w = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
        w = np.maximum(w, 0.0)
    else:
        kernel, support = _KERNELS[method]
        stretch = max(scale, 1.0)
        centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale
        w = kernel((j[None, :] + 0.5 - centres[:, None]) / stretch)
        # Pillow's window: input pixels in [int(c - s + 0.5), int(c + s + 0.5)).
        lo = np.maximum((centres - support * stretch + 0.5).astype(np.int64), 0)
        hi = np.minimum((centres + support * stretch + 0.5).astype(np.int64), n_in)
        w = np.where((j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None]), w, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def resize(images, n_out, method="area"):
    """``images`` (b, n, n) float32 resized to (b, n_out, n_out) float32."""
    b, n, _ = images.shape
    if n_out == n:
        return images.astype(np.float32, copy=True)
    w = weights(n, n_out, method).astype(np.float32)
    # Stacked products of at most 35 rows: each is small enough (~100k
    # multiply-adds) that OpenBLAS runs it on the calling thread. One big GEMM
    # goes multi-threaded, and on a busy 2-core machine its spinning threads
    # made the resize 2x slower than this.
    rows = max(d for d in range(1, 36) if n % d == 0)
    cols = np.matmul(images.reshape(b * n // rows, rows, n), w.T).reshape(b, n, n_out)
    return np.matmul(w, cols)
