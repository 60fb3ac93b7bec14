"""The PNG decoder against PNGs encoded here, pixel by pixel, with every
filter type and bit depth it supports; everything else is refused by name."""
import struct
import zlib

import numpy as np
import pytest

import metaswift
from metaswift import _png
from pngenc import SIGNATURE, chunk, drawing, encode

FILTERS = [0, 1, 2, 3, 4, "mixed"]
SCALE = {1: 255, 2: 85, 4: 17, 8: 1}


def random_samples(depth, height=7, width=13, seed=0):
    # Odd width: rows end in padding bits at depths below 8.
    return np.random.default_rng(seed).integers(0, 2**depth, (height, width))


def row_filters(kind, height):
    return [i % 5 for i in range(height)] if kind == "mixed" else kind


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_grayscale_every_depth_and_filter(depth, kind):
    samples = random_samples(depth, seed=depth)
    png = encode(samples.tolist(), depth=depth, filters=row_filters(kind, len(samples)))
    decoded = _png.decode(png)
    assert decoded.dtype == np.uint8 and decoded.shape == samples.shape
    np.testing.assert_array_equal(decoded, samples * SCALE[depth])


@pytest.mark.parametrize("kind", FILTERS)
def test_filters_on_smooth_8_bit_data(kind):
    # Gradients make Average and Paeth take every branch of their predictors.
    y, x = np.mgrid[0:9, 0:11]
    samples = (x * 23 + y * 17 + (x * y) % 7) % 256
    png = encode(samples.tolist(), depth=8, filters=row_filters(kind, 9))
    np.testing.assert_array_equal(_png.decode(png), samples)


def test_paeth_ties_follow_the_specification():
    # Pixel (1, 1) has left a, up b, up-left c. Ties between the distances
    # pick a, then b, then c (e.g. a=40, b=10, c=20: a and c tie; a=30, b=0, c=20: b and c tie).
    values = [0, 10, 20, 30, 40, 255]
    for a in values:
        for b in values:
            for c in values:
                samples = [[c, b], [a, 77]]
                assert _png.decode(encode(samples, filters=4)).tolist() == samples, (a, b, c)


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_gray_palette(depth):
    levels = np.random.default_rng(depth).integers(0, 256, 2**depth)
    indices = random_samples(depth, seed=10 + depth)
    png = encode(indices.tolist(), depth=depth, color_type=3, filters=row_filters("mixed", 7),
                 palette=[(v, v, v) for v in levels])
    np.testing.assert_array_equal(_png.decode(png), levels[indices])


def test_split_image_data_and_ancillary_chunks():
    samples = random_samples(8, seed=3)
    png = encode(samples.tolist(), idat_parts=4, extra_chunks=[(b"tEXt", b"Comment\x00hi"), (b"tIME", bytes(7))])
    np.testing.assert_array_equal(_png.decode(png), samples)


def test_omniglot_style_drawing():
    ink = np.zeros((105, 105), bool)
    ink[40:60, 10:95] = True
    gray = _png.decode(drawing(ink))
    np.testing.assert_array_equal(gray, np.where(ink, 0, 255))
    header, _, scanlines = _png.read(drawing(ink))
    assert (header.width, header.height, header.bit_depth, header.row_bytes) == (105, 105, 1, 14)
    assert len(scanlines) == 105 * 15


def test_doc_example():
    png = encode([[1, 0, 1], [0, 1, 0]], depth=1)
    assert _png.decode(png).tolist() == [[255, 0, 255], [0, 255, 0]]


def ihdr(width=4, height=2, depth=8, color=0, interlace=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace))


def good():
    return encode([[1, 2, 3, 4], [5, 6, 7, 8]])


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


def with_idat(raw, header=None):
    return SIGNATURE + (header or ihdr()) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


REFUSED = [
    ("not a PNG", b"GIF89a" + good()[6:], r"not a PNG file \(bad signature\)"),
    ("CRC of IDAT", flip(good(), good().index(b"IDAT") + 6), r"CRC mismatch in chunk 'IDAT' \(corrupted file\)"),
    ("CRC of IHDR", flip(good(), 20), r"CRC mismatch in chunk 'IHDR'"),
    ("truncated", good()[:-20], r"truncated"),
    ("no IEND", good()[:-12], r"no IEND chunk"),
    ("first chunk", SIGNATURE + chunk(b"tEXt", b"a\x00b") + good()[8:], r"first chunk is 'tEXt', expected 'IHDR'"),
    ("RGB", SIGNATURE + ihdr(color=2) + good()[33:], r"truecolour \(RGB\) PNGs are not supported"),
    ("gray alpha", SIGNATURE + ihdr(color=4) + good()[33:], r"grayscale with alpha PNGs are not supported"),
    ("RGBA", SIGNATURE + ihdr(color=6) + good()[33:], r"truecolour with alpha \(RGBA\) PNGs are not supported"),
    ("16 bit", SIGNATURE + ihdr(depth=16) + good()[33:], r"bit depth 16 of a grayscale PNG is not supported"),
    ("interlaced", SIGNATURE + ihdr(interlace=1) + good()[33:], r"interlaced \(Adam7\) PNGs are not supported"),
    ("unknown filter", with_idat(bytes([0, 1, 2, 3, 4, 5, 1, 2, 3, 4])), r"unknown filter type 5 on row 1"),
    ("short data", with_idat(bytes([0, 1, 2, 3, 4]) + bytes([0, 1])), r"image data holds 7 bytes, expected 10 for 4x2 at 8 bit"),
    ("long data", with_idat(bytes(11)), r"image data holds more than the 10 bytes of 4x2 at 8 bit"),
    ("bad zlib", SIGNATURE + ihdr() + chunk(b"IDAT", b"\x78\x9cnot deflate") + chunk(b"IEND", b""),
     r"corrupted image data"),
    ("unfinished stream", SIGNATURE + ihdr() + chunk(b"IDAT", zlib.compress(bytes(10))[:-4]) + chunk(b"IEND", b""),
     r"image data stream is incomplete \(truncated or corrupted\)"),
    ("no IDAT", SIGNATURE + ihdr() + chunk(b"IEND", b""), r"no IDAT chunk"),
    ("unknown critical", SIGNATURE + ihdr() + chunk(b"ABCD", b"") + good()[33:], r"unknown critical chunk 'ABCD'"),
    ("colour palette", encode([[0, 1]], depth=1, color_type=3, palette=[(0, 0, 0), (255, 0, 0)]),
     r"palette with colours is not supported"),
    ("palette index", encode([[0, 2]], depth=2, color_type=3, palette=[(0, 0, 0), (9, 9, 9)]),
     r"palette index 2 outside the 2-entry palette"),
    ("no PLTE", encode([[0, 1]], depth=1, color_type=3), r"palette PNG without a PLTE chunk"),
    ("zero size", SIGNATURE + ihdr(width=0) + good()[33:], r"invalid image size 0x2"),
]


@pytest.mark.parametrize("data, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refusals_name_the_file_and_the_reason(data, message):
    with pytest.raises(metaswift.Error, match=r"^Greek/0394_01\.png: " + message):
        _png.decode(data, "Greek/0394_01.png")
