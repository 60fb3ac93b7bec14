"""A tiny PNG encoder for tests, written independently of metaswift._png:
scalar Python, one pixel at a time, straight from the PNG specification."""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def pack_row(samples, depth):
    """Samples packed most significant bits first, the last byte padded with zeros."""
    bits = "".join(format(int(v), f"0{depth}b") for v in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(kind, row, prior):
    """One scanline filtered with ``kind`` (0..4), one byte per pixel for
    filtering (bit depth <= 8, one channel)."""
    out = bytearray([kind])
    for i, x in enumerate(row):
        a = row[i - 1] if i else 0
        b = prior[i]
        c = prior[i - 1] if i else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - predictor) % 256)
    return bytes(out)


def encode(samples, depth=8, color_type=0, filters=0, palette=None, interlace=0, idat_parts=1,
           extra_chunks=()):
    """PNG bytes of ``samples`` (rows of ints). ``filters``: one filter type
    for every row or a list with one per row. ``palette``: RGB triples."""
    height, width = len(samples), len(samples[0])
    rows = [pack_row(r, depth) for r in samples]
    kinds = filters if isinstance(filters, (list, tuple)) else [filters] * height
    prior = bytes(len(rows[0]))
    raw = b""
    for kind, row in zip(kinds, rows):
        raw += filter_row(kind, row, prior)
        prior = row
    data = zlib.compress(raw)
    step = -(-len(data) // idat_parts)
    png = SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))
    for kind, body in extra_chunks:
        png += chunk(kind, body)
    if palette is not None:
        png += chunk(b"PLTE", b"".join(bytes(rgb) for rgb in palette))
    for i in range(0, len(data), step):
        png += chunk(b"IDAT", data[i:i + step])
    return png + chunk(b"IEND", b"")


def drawing(ink, filters=0):
    """An Omniglot-style 1-bit PNG of a boolean ink mask: paper white (1), ink black (0)."""
    return encode([[0 if v else 1 for v in row] for row in ink], depth=1, filters=filters)
