"""A small PNG decoder (standard library zlib + NumPy) for grayscale data sets.

It reads what image data sets such as Omniglot ship: non-interlaced grayscale
at bit depth 1, 2, 4 or 8, and palette images whose palette is gray. Every
chunk's CRC is checked, all five scanline filters are undone, and anything
else (colour, alpha, 16-bit samples, Adam7 interlacing, truncated or
inconsistent files) is refused with :class:`metaswift.Error` naming the file.

The fast path is the common case of data sets written by simple encoders:
every scanline with filter 0 (None), so the decompressed stream is the
pixels with one zero byte before each row and needs no Python loop. Sub
and Up rows are undone with one vectorized NumPy operation per row;
Average and Paeth depend on the byte to their left and run a short Python
loop per row.

Reference: PNG (Portable Network Graphics) Specification, Third Edition,
W3C 2025 (sections 5 to 11); ISO/IEC 15948:2004.
"""
import struct
import zlib

import numpy as np

from . import _core

__all__ = ["decode", "decode_parsed", "read", "Header"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY, PALETTE = 0, 3
_COLOR_NAMES = {0: "grayscale", 2: "truecolour (RGB)", 3: "palette", 4: "grayscale with alpha",
                6: "truecolour with alpha (RGBA)"}
_DEPTHS = {GRAY: (1, 2, 4, 8), PALETTE: (1, 2, 4, 8)}
# Gray levels of the sample values at each bit depth, scaled to 0..255 exactly.
_SCALE = {1: 255, 2: 85, 4: 17, 8: 1}
_IHDR = struct.Struct(">IIBBBBB")


class Header:
    """The IHDR fields of a PNG that :func:`decode` accepts."""

    __slots__ = ("width", "height", "bit_depth", "color_type", "row_bytes")

    def __init__(self, width, height, bit_depth, color_type):
        self.width, self.height = width, height
        self.bit_depth, self.color_type = bit_depth, color_type
        self.row_bytes = (width * bit_depth + 7) // 8

    def __repr__(self):
        return (f"Header(width={self.width}, height={self.height}, bit_depth={self.bit_depth}, "
                f"color_type={self.color_type})")


def _fail(name, message):
    raise _core.Error(f"{name}: {message}")


def _parse_header(body, name):
    if len(body) != 13:
        _fail(name, f"IHDR chunk has {len(body)} bytes, expected 13")
    width, height, depth, color, compression, filtering, interlace = _IHDR.unpack(body)
    if width == 0 or height == 0 or width > 2**31 - 1 or height > 2**31 - 1:
        _fail(name, f"invalid image size {width}x{height}")
    if color not in _DEPTHS:
        kind = _COLOR_NAMES.get(color, f"unknown colour type {color}")
        _fail(name, f"{kind} PNGs are not supported (grayscale or gray palette only)")
    if depth not in _DEPTHS[color]:
        _fail(name, f"bit depth {depth} of a {_COLOR_NAMES[color]} PNG is not supported "
                    f"(only {', '.join(map(str, _DEPTHS[color]))})")
    if compression != 0 or filtering != 0:
        _fail(name, f"unknown compression method {compression} or filter method {filtering}")
    if interlace != 0:
        _fail(name, "interlaced (Adam7) PNGs are not supported" if interlace == 1
              else f"unknown interlace method {interlace}")
    return Header(width, height, depth, color)


def read(data, name="png"):
    """Checks the signature and every chunk's CRC, and returns
    ``(header, palette, scanlines)``: the IHDR fields, the gray level of each
    palette entry (a uint8 array, or None) and the decompressed, still
    filtered scanlines (bytes, ``height * (1 + row_bytes)`` long)."""
    data = memoryview(data)
    if bytes(data[:8]) != SIGNATURE:
        _fail(name, "not a PNG file (bad signature)")
    pos, end = 8, len(data)
    header = palette = None
    idat = []
    seen_iend = False
    unpack_from = struct.unpack_from
    while pos < end:
        if pos + 12 > end:
            _fail(name, "truncated chunk header")
        length, kind = unpack_from(">I4s", data, pos)
        stop = pos + 8 + length
        if length > 2**31 - 1 or stop + 4 > end:
            _fail(name, f"truncated {kind.decode('latin-1')!r} chunk")
        (crc,) = unpack_from(">I", data, stop)
        if zlib.crc32(data[pos + 4:stop]) != crc:
            _fail(name, f"CRC mismatch in chunk {kind.decode('latin-1')!r} (corrupted file)")
        body = data[pos + 8:stop]
        pos = stop + 4
        if header is None and kind != b"IHDR":
            _fail(name, f"first chunk is {kind.decode('latin-1')!r}, expected 'IHDR'")
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"IHDR":
            if header is not None:
                _fail(name, "more than one IHDR chunk")
            header = _parse_header(body, name)
        elif kind == b"PLTE":
            if len(body) % 3 or not 0 < len(body) <= 768:
                _fail(name, f"PLTE chunk of {len(body)} bytes is not 1 to 256 RGB entries")
            rgb = np.frombuffer(body, np.uint8).reshape(-1, 3)
            if header.color_type == PALETTE:
                if not (np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2])):
                    _fail(name, "palette with colours is not supported (only gray entries)")
                palette = rgb[:, 0].copy()
        elif kind == b"IEND":
            seen_iend = True
            break
        elif kind[0] & 0x20 == 0:  # critical chunk we do not know
            _fail(name, f"unknown critical chunk {kind.decode('latin-1')!r}")
    if header is None:
        _fail(name, "no IHDR chunk")
    if not idat:
        _fail(name, "no IDAT chunk")
    if not seen_iend:
        _fail(name, "no IEND chunk (truncated file)")
    if header.color_type == PALETTE and palette is None:
        _fail(name, "palette PNG without a PLTE chunk")
    expected = header.height * (1 + header.row_bytes)
    try:
        inflater = zlib.decompressobj()
        scanlines = inflater.decompress(b"".join(idat), expected + 1)
    except zlib.error as exc:
        _fail(name, f"corrupted image data ({exc})")
    if len(scanlines) > expected:
        _fail(name, f"image data holds more than the {expected} bytes of {header.width}x{header.height} "
                    f"at {header.bit_depth} bit")
    if len(scanlines) < expected:
        _fail(name, f"image data holds {len(scanlines)} bytes, expected {expected} for "
                    f"{header.width}x{header.height} at {header.bit_depth} bit")
    if not inflater.eof:
        _fail(name, "image data stream is incomplete (truncated or corrupted)")
    return header, palette, scanlines


def _paeth_row(raw, prior):
    out = bytearray(raw)
    left = upleft = 0
    for i in range(len(out)):
        up = prior[i]
        p = left + up - upleft
        pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
        pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
        left = out[i] = (out[i] + pred) & 0xFF
        upleft = up
    return out


def _average_row(raw, prior):
    out = bytearray(raw)
    left = 0
    for i in range(len(out)):
        left = out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
    return out


def unfilter(header, scanlines, name="png"):
    """The raw image bytes, a uint8 array ``(height, row_bytes)``, from the
    filtered scanlines. Every supported format has at most one byte per
    pixel, so "the byte to the left" is always the previous byte."""
    rows = np.frombuffer(scanlines, np.uint8).reshape(header.height, 1 + header.row_bytes)
    filters = rows[:, 0]
    if not filters.any():
        return rows[:, 1:]
    if filters.max() > 4:
        row = int(np.argmax(filters > 4))
        _fail(name, f"unknown filter type {filters[row]} on row {row}")
    out = np.empty((header.height, header.row_bytes), np.uint8)
    prior = np.zeros(header.row_bytes, np.uint8)
    for y in range(header.height):
        raw, kind = rows[y, 1:], filters[y]
        if kind == 0:
            out[y] = raw
        elif kind == 1:  # Sub: a running sum modulo 256
            np.cumsum(raw, dtype=np.uint8, out=out[y])
        elif kind == 2:  # Up
            np.add(raw, prior, out=out[y])
        elif kind == 3:  # Average of left and up, floored: sequential
            out[y] = np.frombuffer(_average_row(raw.tobytes(), prior.tolist()), np.uint8)
        else:  # Paeth: sequential
            out[y] = np.frombuffer(_paeth_row(raw.tobytes(), prior.tolist()), np.uint8)
        prior = out[y]
    return out


def samples(header, raw):
    """Sample values ``(height, width)`` uint8 from raw rows: bit depths below
    8 are unpacked, most significant bits first, and the row padding dropped."""
    depth, width = header.bit_depth, header.width
    if depth == 8:
        return raw
    if depth == 1:
        return np.unpackbits(raw, axis=-1, count=width)
    per_byte = 8 // depth
    shifts = np.arange(8 - depth, -1, -depth, dtype=np.uint8)
    values = (raw[..., None] >> shifts) & np.uint8((1 << depth) - 1)
    return values.reshape(*raw.shape[:-1], raw.shape[-1] * per_byte)[..., :width]


def decode(data, name="png"):
    """Gray levels ``(height, width)`` as uint8 in 0..255 of a grayscale or
    gray-palette PNG given as bytes: 1-bit black/white becomes 0/255, 2-bit
    levels are multiplied by 85, 4-bit by 17; a palette index becomes its
    entry's gray level.

    Example:
        >>> import struct, zlib
        >>> def chunk(kind, body):
        ...     return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        >>> png = (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 1, 0, 0, 0, 0))
        ...        + chunk(b"IDAT", zlib.compress(bytes([0, 0b10100000, 0, 0b01000000])))
        ...        + chunk(b"IEND", b""))
        >>> decode(png)
        array([[255,   0, 255],
               [  0, 255,   0]], dtype=uint8)

    Raises :class:`metaswift.Error`, starting with ``name``, for anything it
    cannot read exactly.
    """
    return decode_parsed(*read(data, name), name)


def decode_parsed(header, palette, scanlines, name="png"):
    """:func:`decode` of what :func:`read` returned."""
    values = samples(header, unfilter(header, scanlines, name))
    if header.color_type == PALETTE:
        if int(values.max()) >= len(palette):
            _fail(name, f"palette index {int(values.max())} outside the {len(palette)}-entry palette")
        return palette[values]
    scale = _SCALE[header.bit_depth]
    return values * np.uint8(scale) if scale != 1 else values.copy()
