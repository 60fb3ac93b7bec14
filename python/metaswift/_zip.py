"""A fast reader of the zips that data sets ship: many small members.

``zipfile`` builds a ZipInfo object per member and reads each member through
a file object: about 4 us and 10 us per member, which for Omniglot's 32,460
drawings of ~300 bytes is most of a load. Here the central directory is
parsed with one ``struct`` call per member, and members are sliced out of
the zip read whole and inflated with ``zlib``. Zip64 archives, multi-disk
archives and anything this reader does not know go to ``zipfile``.
"""
import struct
import zipfile
import zlib
from collections import namedtuple

from . import _core

__all__ = ["Member", "members", "Reader"]

Member = namedtuple("Member", "name method flags crc compressed_size size offset")
Member.__doc__ = "A zip member as the central directory describes it."

_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_UTF8 = 0x800


def _from_zipfile(path):
    with zipfile.ZipFile(path) as zf:
        return [Member(i.filename, i.compress_type, i.flag_bits, i.CRC, i.compress_size, i.file_size,
                       i.header_offset) for i in zf.infolist()]


def members(path):
    """The members of the zip at ``path``, in directory order. Raises
    :class:`metaswift.Error` if it is not a readable zip."""
    try:
        with open(path, "rb") as f:
            tail_start = f.seek(max(0, f.seek(0, 2) - (65535 + _EOCD.size)))
            tail = f.read()
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or at + _EOCD.size > len(tail):
                raise zipfile.BadZipFile("no end of central directory record")
            _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
            if disk or cd_disk or count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF \
                    or tail.rfind(b"PK\x06\x07", 0, at) >= 0 or cd_offset + cd_size != tail_start + at:
                return _from_zipfile(path)  # zip64, multi-disk or prefixed: let zipfile sort it out
            f.seek(cd_offset)
            cd = f.read(cd_size)
        found, pos, unpack_from, size = [], 0, _CENTRAL.unpack_from, _CENTRAL.size
        for _ in range(count):
            (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len,
             _, _, _, offset) = unpack_from(cd, pos)
            if sig != b"PK\x01\x02":
                raise zipfile.BadZipFile("bad central directory entry")
            raw = cd[pos + size:pos + size + name_len]
            name = raw.decode("utf-8" if flags & _UTF8 else "cp437")
            found.append(Member(name, method, flags, crc, csize, usize, offset))
            pos += size + name_len + extra_len + comment_len
        return found
    except (zipfile.BadZipFile, OSError, struct.error, UnicodeDecodeError) as exc:
        raise _core.Error(f"root: {path} is not a readable zip file ({exc})") from None


class Reader:
    """Reads members of one zip, held in memory: ``Reader(path)(member)``
    returns its bytes, checked against its size and CRC-32."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                self._data = f.read()
        except OSError as exc:
            raise _core.Error(f"root: {path} is not a readable zip file ({exc})") from None

    def __call__(self, member):
        data, at = self._data, member.offset
        where = f"root: {member.name} in {self.path}"
        if member.flags & 0x1 or member.method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _core.Error(f"{where}: encrypted or compressed with method {member.method}; "
                              "only stored and deflated members are read")
        if data[at:at + 4] != b"PK\x03\x04" or at + 30 > len(data):
            raise _core.Error(f"{where}: no local header at offset {at} (corrupted zip)")
        name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
        start = at + 30 + name_len + extra_len
        if start + member.compressed_size > len(data):
            raise _core.Error(f"{where}: its {member.compressed_size} bytes at offset {start} run past the end "
                              f"of the file ({len(data)} bytes; truncated or corrupted zip)")
        raw = data[start:start + member.compressed_size]
        try:
            if member.method == zipfile.ZIP_STORED:
                body = raw
            else:  # inflates at most one byte more than the directory says: no zip bomb
                body = zlib.decompressobj(-15).decompress(raw, member.size + 1)
        except zlib.error as exc:
            raise _core.Error(f"{where}: corrupted ({exc})") from None
        if len(body) != member.size or zlib.crc32(body) != member.crc:
            raise _core.Error(f"{where}: corrupted (size or CRC-32 differs from the zip's directory)")
        return body
