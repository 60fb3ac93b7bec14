"""Omniglot: 1623 handwritten characters from 50 alphabets, 20 drawings each.

Read from the original release as users have it (the two zips, or the folders
they extract to), checked by content, decoded with the package's own PNG
reader, resized once and cached.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np

from . import _args, _core, _png, _resize, _zip

__all__ = ["Omniglot"]

BACKGROUND, EVALUATION = "images_background", "images_evaluation"
# (alphabets, characters) of each part of the release; every character has DRAWINGS drawings.
EXPECTED = {BACKGROUND: (30, 964), EVALUATION: (20, 659)}
DRAWINGS = 20
SIDE = 105
URLS = {part: f"https://github.com/brendenlake/omniglot/raw/master/python/{part}.zip" for part in EXPECTED}
SPLITS = ("vinyals", "lake")
SUBSETS = ("train", "val", "trainval", "test")
VINYALS_SEED = 0
VINYALS_TRAIN, VINYALS_VAL = 1100, 100  # trainval = the papers' 1200; test = the other 423
LAKE_VAL_ALPHABETS = 5
ROTATIONS = (0, 90, 180, 270)
CACHE_VERSION = 1
DOWNLOAD_TIMEOUT = 60

# Opens a URL for download=True; tests replace it.
_urlopen = urllib.request.urlopen


def default_cache_dir():
    """``$METASWIFT_CACHE/omniglot`` if that variable is set, else
    ``$XDG_CACHE_HOME/metaswift/omniglot``, else ``~/.cache/metaswift/omniglot``."""
    if os.environ.get("METASWIFT_CACHE"):
        return Path(os.environ["METASWIFT_CACHE"]).expanduser() / "omniglot"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "metaswift" / "omniglot"


# MARK: - Sources: a part of the release as a zip or a folder

def _is_drawing(name, prefix):
    """``name`` is ``<part>/<Alphabet>/<character>/<file>.png``, no part hidden."""
    return name.startswith(prefix) and name.endswith(".png") and name.count("/") == 3 and "/." not in name


class _ZipSource:
    def __init__(self, path, part):
        self.path, self.part = Path(path), part
        self._members = {}

    def __str__(self):
        return str(self.path)

    def listing(self):
        """{(alphabet, character): [(member, size, crc32), ...]}. Size and
        CRC-32 (of the PNG's bytes, from the zip's directory) fingerprint the
        member: a repacked zip with the same PNGs has the same ones."""
        found, prefix = {}, self.part + "/"
        for m in _zip.members(self.path):
            if _is_drawing(m.name, prefix):
                self._members[m.name] = m
                _, alphabet, character, _ = m.name.split("/")
                found.setdefault((alphabet, character), []).append((m.name, m.size, m.crc))
        return found

    def open(self):
        """A function reading a listed member (from the zip, read whole)."""
        reader, members = _zip.Reader(self.path), self._members
        return lambda name: reader(members[name])


class _FolderSource:
    def __init__(self, path, part):
        self.path, self.part = Path(path), part

    def __str__(self):
        return f"{self.path}{os.sep}"

    def listing(self):
        """As for a zip, with (member, size, modification time in ns)."""
        found = {}
        with os.scandir(self.path) as alphabets:
            for alphabet in alphabets:
                if not alphabet.is_dir() or alphabet.name.startswith("."):
                    continue
                with os.scandir(alphabet.path) as characters:
                    for character in characters:
                        if not character.is_dir() or character.name.startswith("."):
                            continue
                        drawings = found.setdefault((alphabet.name, character.name), [])
                        with os.scandir(character.path) as files:
                            for f in files:
                                member = f"{self.part}/{alphabet.name}/{character.name}/{f.name}"
                                if _is_drawing(member, self.part + "/") and f.is_file():
                                    st = f.stat()
                                    drawings.append((member, st.st_size, st.st_mtime_ns))
        return found

    def open(self):
        """A function reading a listed file."""
        base = self.path.parent

        def read(member):
            with open(base / member, "rb") as f:
                return f.read()
        return read


def _verify(source, listing):
    """Raises unless ``listing`` holds exactly the part's alphabets, characters and drawings."""
    want_alphabets, want_characters = EXPECTED[source.part]
    alphabets = {a for a, _ in listing}
    drawings = sum(len(v) for v in listing.values())
    odd = [f"{a}/{c} ({len(v)})" for (a, c), v in sorted(listing.items()) if len(v) != DRAWINGS]
    if len(alphabets) == want_alphabets and len(listing) == want_characters and not odd:
        return
    message = (f"root: {source} holds {len(alphabets)} alphabets, {len(listing)} characters and "
               f"{drawings} drawings; the Omniglot release has {want_alphabets} alphabets and "
               f"{want_characters} characters of {DRAWINGS} drawings each ({want_characters * DRAWINGS})")
    if odd:
        more = f" and {len(odd) - 5} more" if len(odd) > 5 else ""
        message += f"; characters without {DRAWINGS} drawings: {', '.join(odd[:5])}{more}"
    raise _core.Error(message)


def _find(root, part):
    """The part as a zip, else as a folder, in ``root`` or in torchvision's ``root/omniglot-py``."""
    for base in (root, root / "omniglot-py"):
        if (base / f"{part}.zip").is_file():
            return _ZipSource(base / f"{part}.zip", part)
        if (base / part).is_dir():
            return _FolderSource(base / part, part)
    return None


def _download(root, part):
    """Fetches the part's zip from the original release into ``root``: into a
    temporary file first, checked by content, then renamed, so ``root`` never
    holds a partial or wrong zip."""
    url = URLS[part]
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{part}.", suffix=".zip.part", dir=root)
    except OSError as exc:
        raise _core.Error(f"root: cannot download into {root} ({exc})") from None
    try:
        try:
            with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while block := response.read(1 << 20):
                    out.write(block)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _core.Error(f"download: could not fetch {url} ({exc})") from None
        source = _ZipSource(tmp, part)
        try:
            _verify(source, source.listing())
        except _core.Error as exc:
            raise _core.Error(f"download: what {url} served is not the Omniglot release: {exc}") from None
        target = root / f"{part}.zip"
        os.replace(tmp, target)
        return _ZipSource(target, part)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# MARK: - Decoding and the cache

_FAST = (1, _png.GRAY, SIDE, SIDE)
_NO_FILTERS = bytes(SIDE)
_ROW = 1 + (SIDE + 7) // 8


def _ink(source, member, read):
    """One drawing as a (105, 105) float32 ink map (ink 1, paper 0), or as its
    1-bit scanlines (bytes) when they need no unfiltering: the batch unpacks those."""
    name = f"root: {member} in {source}"
    header, palette, scanlines = _png.read(read(member), name)
    if (header.bit_depth, header.color_type, header.width, header.height) == _FAST \
            and scanlines[::_ROW] == _NO_FILTERS:
        return scanlines
    gray = _png.decode_parsed(header, palette, scanlines, name)
    if gray.shape != (SIDE, SIDE):
        raise _core.Error(f"{name}: the drawing is {gray.shape[1]}x{gray.shape[0]}, expected {SIDE}x{SIDE}")
    return 1.0 - gray.astype(np.float32) / 255.0


def _decode(entries, size, resample, batch=1024):
    """All drawings, in order, inverted and resized: uint8 (n, size, size), ink 255.
    The PNGs are read one by one; unpacking and resizing go by batches."""
    out = np.empty((len(entries), size, size), np.uint8)
    ink = np.empty((min(batch, len(entries)), SIDE, SIDE), np.float32)
    readers = {}
    for start in range(0, len(entries), batch):
        n = min(batch, len(entries) - start)
        fast_rows, fast_at = [], []
        for i, (source, member) in enumerate(entries[start:start + n]):
            if source not in readers:
                readers[source] = source.open()
            drawing = _ink(source, member, readers[source])
            if isinstance(drawing, bytes):
                fast_rows.append(drawing)
                fast_at.append(i)
            else:
                ink[i] = drawing
        if fast_rows:
            rows = np.frombuffer(b"".join(fast_rows), np.uint8).reshape(len(fast_rows), SIDE, _ROW)
            paper = np.unpackbits(rows[:, :, 1:], axis=-1, count=SIDE)
            if len(fast_at) == n:
                np.subtract(1, paper, out=ink[:n], dtype=np.float32)
            else:
                ink[fast_at] = 1 - paper
        small = _resize.resize(ink[:n], size, resample)
        np.clip(small, 0.0, 1.0, out=small)
        np.rint(np.multiply(small, 255, out=small), out=out[start:start + n], casting="unsafe")
    return out


def _cache_key(characters, size, resample):
    h = hashlib.sha256(f"omniglot v{CACHE_VERSION} {size}px {resample}\n".encode())
    h.update(repr([drawings for _, _, drawings in characters]).encode())
    return h.hexdigest()[:20]


def _load_cached(path, shape):
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return arr if arr.dtype == np.uint8 and arr.shape == shape else None


def _save_cache(path, arr):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError as exc:
        warnings.warn(f"Omniglot: could not write the cache {path} ({exc}); the next load decodes again",
                      RuntimeWarning, stacklevel=3)


# MARK: - Splits

def _split(characters, split, subset):
    """Names ``Alphabet/characterNN`` of the subset's characters, sorted.
    ``characters`` is the sorted list of (name, source, drawings) of all 1623."""
    if split == "vinyals":
        names = [name for name, _, _ in characters]
        order = [names[i] for i in np.random.RandomState(VINYALS_SEED).permutation(len(names))]
        cut = VINYALS_TRAIN + VINYALS_VAL
        chosen = {"train": order[:VINYALS_TRAIN], "val": order[VINYALS_TRAIN:cut],
                  "trainval": order[:cut], "test": order[cut:]}[subset]
    else:
        background = sorted({name.split("/")[0] for name, source, _ in characters if source.part == BACKGROUND})
        alphabets = {"train": background[:-LAKE_VAL_ALPHABETS], "val": background[-LAKE_VAL_ALPHABETS:],
                     "trainval": background}.get(subset)
        chosen = [name for name, source, _ in characters
                  if (source.part == EVALUATION if alphabets is None else name.split("/")[0] in alphabets)]
    return sorted(chosen)


# MARK: - Public API

def _path(value, name):
    """A str or os.PathLike argument as an expanded Path; NUL characters refused."""
    path = os.fspath(value)
    if not isinstance(path, str):
        raise _core.Error(f"{name}: expected a folder path as str, got {type(path).__name__} {path!r}")
    if "\0" in path:
        raise _core.Error(f"{name}: {path!r} contains a NUL character")
    try:
        return Path(path).expanduser()
    except RuntimeError as exc:  # ~user that does not exist
        raise _core.Error(f"{name}: cannot expand {path!r} ({exc})") from None


class Omniglot:
    """The Omniglot characters of one split, as arrays for few-shot tasks.

    Omniglot has 1623 handwritten characters from 50 alphabets, each drawn
    by 20 people: the "background" part (30 alphabets, 964 characters) and
    the "evaluation" part (20 alphabets, 659 characters). Each character (or
    each rotation of one) is a class; the drawings are its examples.

    Args:
        root: a folder holding ``images_background.zip`` and
            ``images_evaluation.zip`` of the original release, or the folders
            they extract to (``images_background/<Alphabet>/characterNN/*.png``);
            torchvision's ``root/omniglot-py`` is looked in too. The zips are read
            in place. Their content is checked (alphabets, characters and 20
            drawings each), never their checksum.
        split: ``"vinyals"`` (Vinyals et al. 2016, as in MAML and ProtoNets): the
            1623 characters pooled, sorted by name, shuffled by
            ``np.random.RandomState(0).permutation`` and cut into 1200 meta-train
            and 423 meta-test characters; the last 100 of the 1200 are
            meta-validation. ``"lake"`` (Lake et al. 2015): the background
            alphabets for meta-training (the last 5 of them, by sorted name, for
            meta-validation) and the evaluation alphabets for meta-testing.
        subset: ``"train"`` (vinyals: 1100 characters; lake: 25 alphabets, 813
            characters), ``"val"`` (100; 5 alphabets, 151 characters),
            ``"trainval"`` (train and val: vinyals' 1200, lake's 30 background
            alphabets, 964 characters; what papers call meta-train) or
            ``"test"`` (423; lake's 20 evaluation alphabets, 659 characters).
            The four never share a character, under any rotation.
        image_size: side of the square images, 1 to 105 (the drawings are
            105x105). 28 is the convention of the papers.
        rotations: also rotate every character by 90, 180 and 270 degrees
            (counter-clockwise, ``np.rot90``) as three new classes. Default:
            True for vinyals (1200 + 423 characters give 4800 + 1692 classes),
            False for lake.
        download: fetch the zips of the original release into ``root`` when
            neither a zip nor its folder is there.
        cache_dir: where the decoded, resized drawings of all 1623 characters
            are kept, one file per image size and filter, named by a hash of
            the PNGs' listing (names, sizes and CRC-32 for a zip; names, sizes
            and modification times for a folder), so other data never reuses
            it. Default: ``$METASWIFT_CACHE/omniglot``, else
            ``~/.cache/metaswift/omniglot``. ``False``: no cache.
        resample: the antialiasing filter of the resize. ``"area"`` (default):
            every output pixel is the exact mean of the 105x105 drawing over the
            square it covers (OpenCV's INTER_AREA): strokes keep their ink (the
            mean is preserved) and values cannot leave [0, 1]. ``"lanczos"``
            (what MAML's scripts used, through Pillow) and ``"bilinear"``
            (torchvision's ``Resize``) reproduce Pillow's ``Image.resize``.

    Attributes:
        images: float32 ``(n, 1, image_size, image_size)``, ink 1 and paper 0,
            values k/255 (the cache stores uint8).
        labels: int64 ``(n,)``, the class of each image, 0 .. num_classes - 1;
            the 20 drawings of a class are consecutive.
        num_classes: characters times rotations.
        class_names: ``"Alphabet/characterNN"``, with ``"/rot90"`` etc. (and
            ``"/rot0"``) when rotations are on; ``class_names[label]``.
        characters: the subset's ``"Alphabet/characterNN"``, sorted.
        cache_file: the cache file used (a Path), or None.

    Example:
        >>> import metaswift as ms
        >>> train = ms.data.Omniglot("~/data/omniglot", subset="trainval")  # doctest: +SKIP
        >>> train  # doctest: +SKIP
        Omniglot(split='vinyals', subset='trainval', image_size=28, rotations=True, resample='area',
                 characters=1200, classes=4800, images=96000)
        >>> train.images.shape, train.labels[:3], train.class_names[0]  # doctest: +SKIP
        ((96000, 1, 28, 28), array([0, 0, 0]), 'Alphabet_of_the_Magi/character01/rot0')
        >>> tasks = ms.data.Taskset(train.images, train.labels, ways=5, shots=1, queries=15, seed=0)  # doctest: +SKIP

    References:
        Lake, Salakhutdinov & Tenenbaum. Human-level concept learning through
        probabilistic program induction. Science 350(6266), 2015.
        Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra. Matching Networks
        for One Shot Learning. NeurIPS 2016 (the 1200/423 split, rotations).
    """

    def __init__(self, root, split="vinyals", subset="train", image_size=28, rotations=None,
                 download=False, cache_dir=None, resample="area"):
        if not isinstance(root, (str, os.PathLike)):
            raise _core.Error(f"root: expected a folder path, got {_args.shown(root)}")
        self.split = _args.choice(split, "split", SPLITS)
        self.subset = _args.choice(subset, "subset", SUBSETS)
        self.image_size = _args.integer(image_size, "image_size")
        if not 1 <= self.image_size <= SIDE:
            raise _core.Error(f"image_size: must be 1 to {SIDE} (the drawings are {SIDE}x{SIDE}), "
                              f"got {self.image_size}")
        if rotations is not None and not isinstance(rotations, (bool, np.bool_)):
            raise _core.Error(f"rotations: expected True, False or None, got {_args.shown(rotations)}")
        self.rotations = bool(self.split == "vinyals" if rotations is None else rotations)
        if not isinstance(download, (bool, np.bool_)):
            raise _core.Error(f"download: expected True or False, got {_args.shown(download)}")
        self.resample = _args.choice(resample, "resample", _resize.METHODS)
        if cache_dir is not None and cache_dir is not False and not isinstance(cache_dir, (str, os.PathLike)):
            raise _core.Error(f"cache_dir: expected a folder path, None or False, got {_args.shown(cache_dir)}")
        self.root = _path(root, "root")
        if cache_dir is not None and cache_dir is not False:
            cache_dir = _path(cache_dir, "cache_dir")

        try:
            characters = self._characters(bool(download))
            base, self.cache_file = self._drawings(characters, cache_dir)
        except OSError as exc:  # unreadable folders and files, names the system refuses
            raise _core.Error(f"root: cannot read {self.root} ({exc})") from None
        self.characters = _split(characters, self.split, self.subset)
        self._assemble(characters, base)

    def _characters(self, download):
        """The sorted list of (name, source, drawings) of all 1623 characters, checked."""
        root = self.root
        if not root.exists() and not download:
            raise _core.Error(f"root: {root} does not exist (download=True fetches Omniglot into it)")
        if root.exists() and not root.is_dir():
            raise _core.Error(f"root: {root} is not a folder")
        characters = []
        for part in EXPECTED:
            source = _find(root, part) if root.is_dir() else None
            if source is None:
                if not download:
                    raise _core.Error(f"root: found neither {part}.zip nor {part}{os.sep} in {root} "
                                      "(download=True fetches them)")
                source = _download(root, part)
            listing = source.listing()
            _verify(source, listing)
            characters += [(f"{a}/{c}", source, sorted(v)) for (a, c), v in listing.items()]
        characters.sort(key=lambda entry: entry[0])
        names = [name for name, _, _ in characters]
        if len(set(names)) != len(names):
            raise _core.Error(f"root: the two parts share alphabet names (found {len(set(names))} distinct "
                              f"characters of {len(names)})")
        return characters

    def _drawings(self, characters, cache_dir):
        """uint8 (1623 * 20, s, s) of all drawings in the order of ``characters``, and the cache path."""
        size = self.image_size
        shape = (len(characters) * DRAWINGS, size, size)
        path = None
        if cache_dir is not False:
            folder = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
            key = _cache_key(characters, size, self.resample)
            path = folder / f"omniglot-{size}px-{self.resample}-{key}.npy"
            cached = _load_cached(path, shape)
            if cached is not None:
                return cached, path
        entries = [(source, member) for _, source, drawings in characters for member, *_ in drawings]
        base = _decode(entries, size, self.resample)
        if path is not None:
            _save_cache(path, base)
        return base, path

    def _assemble(self, characters, base):
        size = self.image_size
        position = {name: i for i, (name, _, _) in enumerate(characters)}
        chosen = base.reshape(len(characters), DRAWINGS, size, size)[[position[c] for c in self.characters]]
        turns = len(ROTATIONS) if self.rotations else 1
        # uint8 k -> float32 k / 255, correctly rounded; rotations written straight into the result.
        images = np.empty((len(chosen), turns, DRAWINGS, size, size), np.float32)
        for k in range(turns):
            np.divide(np.rot90(chosen, k, axes=(2, 3)), np.float32(255), out=images[:, k], dtype=np.float32)
        self.class_names = ([f"{c}/rot{deg}" for c in self.characters for deg in ROTATIONS] if self.rotations
                            else list(self.characters))
        self.num_classes = len(self.class_names)
        self.images = images.reshape(-1, 1, size, size)
        self.labels = np.repeat(np.arange(self.num_classes, dtype=np.int64), DRAWINGS)

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return (f"Omniglot(split={self.split!r}, subset={self.subset!r}, image_size={self.image_size}, "
                f"rotations={self.rotations}, resample={self.resample!r}, characters={len(self.characters)}, "
                f"classes={self.num_classes}, images={len(self.images)})")
