"""The .snf container: signature, chunks (length, type, level, data, CRC-32).

`Parser` is the one reader: it is fed bytes as they arrive (the client and the
server feed it network chunks; `read` feeds it a whole file) and reports each
level the moment its chunk is complete. See format_spec.md, which this follows
byte for byte.
"""
from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass, field

import msgpack

from snf.field.arch import FAMILIES, Arch, ArchError
from snf.field.grid import FAMILY as GRID, GridArch, GridArchError
from snf.field.latent import FAMILY as LATENT, LatentArch, LatentArchError
from snf.format import coded, cost, gridcode, latentcode
from snf.format.quant import MAX_BITS, MIN_BITS, QuantError, decode_level, payload_size

SIGNATURE = b"\x89SNF\r\n\x1a\n"
VERSION = (2, 0)  # written; 2.0 added the entropy-coded payload (quant.coding "rans-laplace")
MAJORS = (1, 2)   # major versions this reader reads (a 1.x file holds only "raw" levels)
MIME_TYPE = "application/vnd.snf"
EXTENSION = ".snf"
PREFIX_LEN = len(SIGNATURE) + 2
CHUNK_HEAD = struct.Struct(">I4sH")  # data length, type, level
CHUNK_OVERHEAD = CHUNK_HEAD.size + 4  # + CRC-32

T_HEAD, T_LEVEL, T_END = b"HEAD", b"LEVL", b"SEND"
T_META = b"meta"  # ancillary: informative msgpack map (encoder settings, per-level figures) after the levels

MAX_HEADER_BYTES = 1 << 20
MAX_CHUNK_BYTES = 64 << 20
MAX_PIXELS = 1 << 28
MAX_SIDE = 65536
MAX_FRAMES = 4096
MAX_SAMPLE_BITS = 16
MAX_HEADER_DEPTH = 64  # msgpack nesting: the header map is depth 0, its values depth 1, ... (section 2)
MAX_SAFE_INT = (1 << 53) - 1  # header integers a JavaScript reader holds exactly
SIGNAL_DIMS = {"image": 2, "signal1d": 1, "video": 3, "sdf": 3}  # axes of `size`, = arch.d_in
SIGNALS = tuple(SIGNAL_DIMS)
DEFAULT_COORDS = {"range": [-1.0, 1.0], "grid": "linspace", "order": "xy"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# Must-understand dispatch points (format_spec.md section 2.1). A reader refuses a
# file whose `requires` names a feature it lacks, whose `quant.coding` or
# `field` (family) it does not know, or that has a critical chunk type it does not know.
FEATURES = (gridcode.FEATURE, gridcode.FEATURE_CTX)           # `requires` entries this reader implements
PAYLOAD_CODINGS = {"raw": decode_level,  # quant.coding -> (arch, k, payload, quant) -> tensors
                   coded.CODING: lambda arch, k, payload, quant: coded.decode_level(arch, k, payload)}
STORED_CODINGS = (coded.CODING,)         # codings whose LEVL data is the payload itself (no zstd frame)
CODINGS = tuple(PAYLOAD_CODINGS)
CHUNK_TYPES = {"HEAD": T_HEAD, "LEVL": T_LEVEL, "SEND": T_END}


# Error kinds (format_spec.md section 6; the conformance vectors and snf-parse.js use the same):
ERROR_KINDS = ("format", "unsupported", "header", "limit", "corrupt", "structure", "payload", "truncated")


class SnfError(Exception):
    """A problem with an .snf stream, in one line. `level` names the first level that
    does not decode because of it; `kind` is one of ERROR_KINDS."""

    def __init__(self, message: str, level: int | None = None, kind: str = "format"):
        super().__init__(message)
        self.level = level
        self.kind = kind


def accept(prefix: bytes) -> bool:
    """Whether bytes start like an .snf file (for sniffing and the Pillow plugin)."""
    return prefix[: len(SIGNATURE)] == SIGNATURE[: len(prefix)] and len(prefix) > 0


# ---------------------------------------------------------------- writing

def chunk(ctype: bytes, level: int, data: bytes) -> bytes:
    head = CHUNK_HEAD.pack(len(data), ctype, level)
    return head + data + struct.pack(">I", zlib.crc32(head[4:] + data))


def build(header: dict, payloads: list, zstd_level: int = 19, end: bool = True, meta: dict | None = None) -> bytes:
    """A whole .snf file from a header map and level payloads: entropy-coded ones
    (`coded.encode_level`, quant.coding "rans-laplace"; grid files that require
    grid-rans, `gridcode.encode_level`) are stored as they are; raw fixed-bit ones
    (`quant.encode_level`) and first-revision grid payloads each in a zstd frame.

    `end=False` leaves out the end chunk: a prefix holding the levels given so far,
    which is what an encoder publishes while later levels still train. `meta`: an
    informative map written as an ancillary `meta` chunk after the last level (the
    latent family keeps its header small this way; readers that do not know it skip it)."""
    validate_header(header)
    family = header.get("field")
    stored = True if family == LATENT else grid_coded(header) if family == GRID else \
        header["quant"].get("coding", "raw") in STORED_CODINGS
    import zstandard  # only raw fixed-bit levels and first-revision grid levels use zstd
    cctx = zstandard.ZstdCompressor(level=zstd_level, write_content_size=True, write_checksum=False)
    parts = [SIGNATURE, bytes(VERSION), chunk(T_HEAD, 0, msgpack.packb(header, use_bin_type=True))]
    for k, raw in enumerate(payloads, 1):
        parts.append(chunk(T_LEVEL, k, raw if stored else cctx.compress(raw)))
    if meta is not None:
        parts.append(chunk(T_META, 0, msgpack.packb(meta, use_bin_type=True)))
    if end:
        parts.append(chunk(T_END, 0, b""))
    return b"".join(parts)


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: never half-written.

    `durable` also flushes to disk before the rename (worth it for an encode that
    took minutes; a decoded picture can skip it and save tens of milliseconds)."""
    folder = os.path.dirname(os.path.abspath(path))
    import tempfile  # here, not at the top: it pulls in shutil and random, ~5 ms of every decode
    fd, tmp = tempfile.mkstemp(prefix=".snf-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, _mode_for(path))  # mkstemp makes 0600; a plain open() would not
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(path: str) -> int:
    """The permissions open(path, "w") would leave: the existing file's, else 0666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


# ---------------------------------------------------------------- header

def _is_int(v) -> bool:
    """An integer as the spec reads one: a msgpack int or an integral float, never a bool."""
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)
                                                                and v.is_integer()))


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _header_error(message: str) -> SnfError:
    return SnfError(f"header: {message}", kind="header")


def check_tree(h) -> None:
    """The header's msgpack types (format_spec.md section 2): maps with string keys, arrays,
    strings, integers, floats, booleans and nil, nested at most MAX_HEADER_DEPTH deep; no bin
    or ext value. Iterative, so a hostile nesting cannot exhaust the stack."""
    todo = [(h, 0)]
    while todo:
        v, depth = todo.pop()
        if depth > MAX_HEADER_DEPTH:
            raise _header_error(f"msgpack nesting deeper than {MAX_HEADER_DEPTH}")
        if isinstance(v, dict):
            for key, item in v.items():
                if not isinstance(key, str):
                    raise _header_error(f"map key {_short(key)} is not a string")
                todo.append((item, depth + 1))
        elif isinstance(v, list):
            todo.extend((item, depth + 1) for item in v)
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_SAFE_INT:
            raise _header_error(f"integer {_short(v)} beyond 2^53 - 1 (not exact in JavaScript)")
        elif not (v is None or isinstance(v, (bool, int, float, str))):
            raise _header_error(f"a header value of msgpack type {type(v).__name__} (only nil, bool, int, float, "
                                "str, array and map are allowed)")


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def normalized(h: dict) -> dict:
    """A copy of a valid header whose integer fields are Python ints (the spec lets a writer
    store an integer as an integral float: `size` [64.0, 48.0] is [64, 48])."""
    out = dict(h)
    out["size"] = [int(s) for s in h["size"]]
    out["channels"] = int(h["channels"])
    if isinstance(h.get("values"), dict):
        v = dict(h["values"])
        if "bit_depth" in v:
            v["bit_depth"] = int(v["bit_depth"])
        v["range"] = [float(x) for x in v["range"]]
        out["values"] = v
    if isinstance(h.get("quant"), dict):
        q = dict(h["quant"])
        for key in ("bits", "bits_small"):
            if _is_int(q.get(key)):
                q[key] = int(q[key])
        out["quant"] = q
    return out


def validate_header(h: dict, major: int = VERSION[0]):
    """Check a header map against format_spec.md section 2 and the hard limits; return
    its architecture (`Arch`, or `GridArch` for the grid family). Every failure is one SnfError (kind 'header', or 'unsupported'
    for a must-understand value this reader does not implement)."""
    if not isinstance(h, dict):
        raise SnfError("header is not a map", kind="header")
    check_tree(h)
    requires = h.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise _header_error("requires must be a list of strings")
    missing = [r for r in requires if r not in FEATURES]
    if missing:
        raise SnfError(f"this file needs {', '.join(missing)}, which this reader does not implement",
                       kind="unsupported")
    family = h.get("field", FAMILIES[0])
    if family not in FAMILIES:
        raise SnfError(f"unknown field family {family!r}: this reader decodes {', '.join(FAMILIES)}",
                       kind="unsupported")
    if family in (GRID, LATENT):
        if major < 2:
            raise _header_error(f"field family {family!r} needs format version 2")
        return _validate_grid_header(h) if family == GRID else _validate_latent_header(h)
    try:
        arch = Arch.from_dict(h.get("arch"))
    except ArchError as e:
        raise _header_error(str(e)) from None
    signal = h.get("signal")
    if signal not in SIGNALS:
        raise _header_error(f"unknown signal kind {signal!r}")
    size = h.get("size")
    dims = SIGNAL_DIMS[signal]
    if not (isinstance(size, list) and all(_is_int(s) and 1 <= s <= MAX_SIDE for s in size)):
        raise _header_error(f"bad size {size!r}")
    if len(size) != dims or arch.d_in != dims:
        raise _header_error(f"a {signal} has {dims} axes: size {size!r} and d_in {arch.d_in} must match")
    n = 1
    for s in size:
        n *= int(s)
    if n > MAX_PIXELS:
        raise _header_error(f"{n} samples exceed the limit {MAX_PIXELS}")
    if signal == "sdf" and int(size[0]) ** 3 > MAX_PIXELS:  # an SDF renders size[0]^3 samples (section 4.1)
        raise _header_error(f"an SDF of side {int(size[0])} renders {int(size[0]) ** 3} samples, above the limit {MAX_PIXELS}")
    if signal == "video" and size[2] > MAX_FRAMES:
        raise _header_error(f"{size[2]} frames exceed the limit {MAX_FRAMES}")
    if "transform" in h:
        _check_transform(h["transform"])
    if not _is_int(h.get("channels")) or h.get("channels") != arch.d_out:
        raise _header_error("channels differ from the architecture's outputs")
    _check_coords(h.get("coords", DEFAULT_COORDS))
    _check_values(h.get("values"))
    _check_quant(h.get("quant"), major)
    q = h["quant"]
    for k in range(1, arch.levels + 1):
        size = coded.head_size(arch, k) + arch.level_params(k) if q.get("coding") == coded.CODING \
            else payload_size(arch, k, q)
        if size > MAX_CHUNK_BYTES:
            raise SnfError(f"header: level {k} would exceed the chunk limit", kind="limit")
    _check_cost(h, arch)
    return arch


def _check_cost(h: dict, arch) -> None:
    """The cost model's hard limits (section 5.1) for the full render of the last level."""
    try:
        cost.check(h, arch, arch.levels)
    except cost.CostError as e:
        raise SnfError(f"header: {e}", kind="limit") from None


def _check_transform(t) -> None:
    if not (isinstance(t, dict) and isinstance(t.get("center"), list) and len(t["center"]) == 3
            and all(_is_number(c) for c in t["center"]) and _is_number(t.get("scale")) and t["scale"] > 0):
        raise _header_error("transform must be {center: [x, y, z], scale: s} with finite numbers, s > 0")


def _validate_grid_header(h: dict) -> GridArch:
    """The grid family's header (format_spec.md section 9): no `quant` (its payload
    coding is fixed), an image of at most the usual size."""
    a = h.get("arch")
    if isinstance(a, dict):  # integers as the spec reads them, before GridArch converts them
        grids, hidden = a.get("grids"), a.get("hidden")
        if not (isinstance(grids, list) and all(isinstance(g, list) and all(_is_int(f) for f in g) for g in grids)):
            raise _header_error("grid arch grids must be lists of integers")
        if not (isinstance(hidden, list) and all(_is_int(x) for x in hidden)):
            raise _header_error("grid arch hidden must be a list of integers")
        for key in ("layers", "d_out"):
            if key in a and not _is_int(a[key]):
                raise _header_error(f"grid arch {key} must be an integer, got {_short(a[key])}")
    try:
        arch = GridArch.from_dict(h.get("arch"))
    except GridArchError as e:
        raise _header_error(str(e)) from None
    size = _check_image_family(h, arch, "grid", GridArchError)
    ctx = grid_ctx(h)
    if ctx and not grid_coded(h):
        raise _header_error(f"requires {gridcode.FEATURE_CTX} without {gridcode.FEATURE}")
    for k in range(1, arch.levels + 1):
        bound = gridcode.max_coded_size(arch, k, size, ctx) if grid_coded(h) else gridcode.payload_size(arch, k, size)
        if bound > MAX_CHUNK_BYTES:
            raise SnfError(f"header: level {k} would exceed the chunk limit", kind="limit")
    _check_cost(h, arch)
    return arch


def _check_image_family(h: dict, arch, family: str, arch_error: type) -> tuple:
    """What the grid and latent families check alike (sections 9.2, 11.2): an image of a
    bounded size, channels = the outputs, the family's own size rule, coords and values.
    Returns (W, H)."""
    if h.get("signal") != "image":
        raise _header_error(f"a {family} field holds an image, not {h.get('signal')!r}")
    size = h.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) and 1 <= s <= MAX_SIDE for s in size)):
        raise _header_error(f"bad size {size!r}")
    size = (int(size[0]), int(size[1]))
    if size[0] * size[1] > MAX_PIXELS:
        raise _header_error(f"{size[0] * size[1]} samples exceed the limit {MAX_PIXELS}")
    if not _is_int(h.get("channels")) or h.get("channels") != arch.d_out:
        raise _header_error("channels differ from the architecture's outputs")
    try:
        arch.check_size(size)
    except arch_error as e:
        raise _header_error(str(e)) from None
    _check_coords(h.get("coords", DEFAULT_COORDS))
    _check_values(h.get("values"))
    return size


def _validate_latent_header(h: dict) -> LatentArch:
    """The latent family's header (format_spec.md section 11.2 and the limits of 11.6)."""
    try:
        arch = LatentArch.from_dict(h.get("arch"))
    except LatentArchError as e:
        raise _header_error(str(e)) from None
    size = _check_image_family(h, arch, "latent", LatentArchError)
    for k in range(1, arch.levels + 1):
        if latentcode.max_coded_size(arch, k, size) > MAX_CHUNK_BYTES:
            raise SnfError(f"header: level {k} would exceed the chunk limit", kind="limit")
    _check_cost(h, arch)
    return arch


def grid_coded(h: dict) -> bool:
    """A grid file whose levels are entropy-coded (`requires` names grid-rans, section 9.3)."""
    return gridcode.FEATURE in h.get("requires", [])


def grid_ctx(h: dict) -> bool:
    """A grid file whose latent grids are coded by context (`requires` names grid-ctx, section 9.3)."""
    return gridcode.FEATURE_CTX in h.get("requires", [])


def _check_coords(c) -> None:
    if not isinstance(c, dict):
        raise _header_error("coords must be a map")
    for key, want in DEFAULT_COORDS.items():
        if key in c and c[key] != want:
            raise SnfError(f"coords {key} {c[key]!r} is not supported (only {want!r})", kind="unsupported")


def _check_values(v) -> None:
    if not isinstance(v, dict):
        raise _header_error("values must be a map with a range")
    r = v.get("range")
    if not (isinstance(r, list) and len(r) == 2 and all(_is_number(x) for x in r)):
        raise _header_error(f"values range must be [lo, hi], got {r!r}")
    if not r[0] < r[1]:
        raise _header_error(f"values range needs lo < hi, got {r!r}")
    depth = v.get("bit_depth", 8)
    if not (_is_int(depth) and 1 <= depth <= MAX_SAMPLE_BITS):
        raise _header_error(f"values bit_depth must be 1..{MAX_SAMPLE_BITS}, got {depth!r}")


def _check_quant(q, major: int = VERSION[0]) -> None:
    if not isinstance(q, dict):
        raise _header_error("quant must be a map")
    coding = q.get("coding", "raw")
    if coding not in CODINGS:
        raise SnfError(f"unknown payload coding {coding!r}: this reader decodes {', '.join(CODINGS)}",
                       kind="unsupported")
    if coding == coded.CODING:  # steps and models travel in each level's payload (section 3.2)
        if major < 2:
            raise _header_error(f"payload coding {coding!r} needs format version 2")
        return
    if q.get("scale") != "row":
        raise _header_error("quant scale must be 'row'")
    for key in ("bits", "bits_small"):
        b = q.get(key)
        if not (_is_int(b) and MIN_BITS <= b <= MAX_BITS):
            raise _header_error(f"quant {key} must be {MIN_BITS}..{MAX_BITS}, got {b!r}")


# ---------------------------------------------------------------- zstd frames

def zstd_frame(body: bytes) -> tuple:
    """(content size or None, frame length) of the zstd frame at the start of `body`
    (RFC 8878 3.1.1): the header fields and a walk over the block headers, so a
    reader can refuse a frame without a size, with a dictionary or with trailing
    bytes before it decompresses anything."""
    if len(body) < 6 or body[:4] != ZSTD_MAGIC:
        raise ValueError("not a zstd frame")
    fhd = body[4]
    fcs_flag, single, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    if fhd & 0x08:
        raise ValueError("reserved bit set in the zstd frame header")
    if dict_flag:
        raise ValueError("zstd frame names a dictionary")
    pos = 5 + (0 if single else 1)
    fcs_bytes = (single, 2, 4, 8)[fcs_flag]
    if len(body) < pos + fcs_bytes:
        raise ValueError("zstd frame header truncated")
    size = None
    if fcs_bytes:
        size = int.from_bytes(body[pos:pos + fcs_bytes], "little") + (256 if fcs_bytes == 2 else 0)
    pos += fcs_bytes
    while True:
        if len(body) < pos + 3:
            raise ValueError("zstd frame truncated")
        bh = int.from_bytes(body[pos:pos + 3], "little")
        last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        if btype == 3:
            raise ValueError("reserved zstd block type")
        pos += 3 + (1 if btype == 1 else bsize)
        if last:
            break
    pos += 4 * checksum
    if pos > len(body):
        raise ValueError("zstd frame truncated")
    return size, pos


# ---------------------------------------------------------------- reading

@dataclass
class Parsed:
    """What a parser has read so far."""
    header: dict | None = None
    arch: Arch | None = None
    levels: list = field(default_factory=list)   # dequantised tensors per complete level
    ends: list = field(default_factory=list)     # file offset just past each level's chunk
    header_end: int = 0
    version: tuple = VERSION                     # the file's (major, minor), once read
    complete: bool = False                       # the end chunk was read
    meta: dict | None = None                     # the ancillary `meta` chunk's map, if one was read
    error: SnfError | None = None                # why reading stopped early, if it did

    @property
    def levels_complete(self) -> int:
        return len(self.levels)


class Parser:
    """Incremental reader: `feed(data)` returns the levels completed by that data.

    The order of checks is the spec's (section 6): before a chunk is whole only its
    length is used (against a limit); then its CRC; only then its type and level.
    After an error the parser keeps what it had and ignores further bytes; the
    error is in `parsed.error` (and raised by `feed` once, when `strict`).
    """

    def __init__(self, strict: bool = False, decode: bool = True, upto: int | None = None):
        self.parsed = Parsed()
        self.strict = strict
        self.decode = decode
        self.upto = upto  # decode levels 1..upto only: later ones are framed and CRC-checked, not decoded (None)
        self._buf = bytearray()
        self._offset = 0   # file offset of _buf[0]
        self._dctx = None  # a zstd decompressor, made at the first zstd-framed level (2.x files have none)
        self.major = VERSION[0]  # the file's major version, once read

    @property
    def offset(self) -> int:
        """Bytes consumed so far."""
        return self._offset + len(self._buf)

    @property
    def consumed(self) -> int:
        """Bytes of the stream the parser acted on (the end chunk included; bytes after it are not)."""
        return self._offset

    def feed(self, data: bytes) -> list:
        p = self.parsed
        if p.error is not None or p.complete:
            return []
        self._buf += data
        done = []
        try:
            while self._step(done):
                pass
        except SnfError as e:
            p.error = e
            if self.strict:
                raise
        except MemoryError:
            p.error = SnfError("out of memory while reading", self._next_level(), kind="limit")
            if self.strict:
                raise p.error from None
        return done

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._offset += n
        return out

    def _next_level(self):
        """The level a corrupt or missing chunk is charged to (None past the last)."""
        p = self.parsed
        n = p.levels_complete + 1
        return n if p.arch is not None and n <= p.arch.levels else None

    def _step(self, done: list) -> bool:
        p = self.parsed
        if self._offset == 0:
            if not self._buf:
                return False
            if not accept(bytes(self._buf[: len(SIGNATURE)])):
                raise SnfError("not an .snf file (bad signature)", kind="format")
            if len(self._buf) < PREFIX_LEN:
                return False
            major, minor = self._buf[len(SIGNATURE)], self._buf[len(SIGNATURE) + 1]
            if major not in MAJORS:
                raise SnfError(f"unsupported .snf version {major}.{minor} "
                               f"(this reader reads {' and '.join(f'{m}.x' for m in MAJORS)})", kind="unsupported")
            self.major = major
            self.parsed.version = (major, minor)
            self._take(PREFIX_LEN)
            return True
        if len(self._buf) < CHUNK_HEAD.size:
            return False
        length = struct.unpack_from(">I", self._buf)[0]
        # The length is the one field the CRC cannot cover before the chunk is whole:
        # it is only compared with a limit here, never trusted to mean anything else.
        if p.header is None and length > MAX_HEADER_BYTES:
            raise SnfError("header chunk exceeds the size limit", kind="limit")
        if length > MAX_CHUNK_BYTES:
            raise SnfError(f"chunk of {length} bytes exceeds the limit", self._next_level(), kind="limit")
        if len(self._buf) < CHUNK_HEAD.size + length + 4:
            return False
        raw = self._take(CHUNK_HEAD.size + length + 4)
        if zlib.crc32(raw[4:-4]) != struct.unpack(">I", raw[-4:])[0]:
            if p.header is None:
                raise SnfError("header chunk is corrupt (CRC mismatch)", kind="corrupt")
            n = self._next_level()
            where = f"level {n} chunk" if n is not None else "chunk after the last level"
            raise SnfError(f"{where} is corrupt (CRC mismatch)", n, kind="corrupt")
        _, ctype, level = CHUNK_HEAD.unpack_from(raw)
        self._on_chunk(ctype, level, raw[CHUNK_HEAD.size:-4], done)
        return not p.complete

    def _on_chunk(self, ctype: bytes, level: int, body: bytes, done: list) -> None:
        p = self.parsed
        name = ctype.decode("latin-1")
        if not all(65 <= c <= 90 or 97 <= c <= 122 for c in ctype):
            raise SnfError(f"chunk type {name!r} is not four ASCII letters", self._next_level(), kind="structure")
        if p.header is None:
            if ctype != T_HEAD:
                raise SnfError("not an .snf file (no header chunk)", kind="format")
            if level != 0:
                raise SnfError(f"header chunk has level field {level} (must be 0)", kind="structure")
            try:
                header = msgpack.unpackb(body, raw=False, strict_map_key=False, max_bin_len=MAX_HEADER_BYTES)
            except Exception:
                raise SnfError("header chunk is not valid msgpack", kind="header") from None
            try:
                p.arch = validate_header(header, self.major)
            except SnfError:
                raise
            except Exception as e:  # a rule no check above names: still one header error, never a crash
                raise SnfError(f"header: malformed ({e.__class__.__name__})", kind="header") from None
            p.header = normalized(header)
            p.header_end = self._offset
        elif ctype == T_LEVEL:
            want = p.levels_complete + 1
            if want > p.arch.levels:
                raise SnfError(f"level chunk {level} beyond the {p.arch.levels} levels in the header", None,
                               kind="structure")
            if level != want:
                raise SnfError(f"level chunk {level} out of order (expected {want})", want, kind="structure")
            wanted = self.decode and (self.upto is None or level <= self.upto)
            p.levels.append(self._decode_level(level, body) if wanted else None)
            p.ends.append(self._offset)
            done.append(level)
        elif ctype == T_END:
            if level != 0:
                raise SnfError(f"end chunk has level field {level} (must be 0)", self._next_level(), kind="structure")
            if body:
                raise SnfError(f"end chunk holds {len(body)} bytes (must be empty)", self._next_level(),
                               kind="structure")
            if p.levels_complete != p.arch.levels:
                raise SnfError(f"end chunk after {p.levels_complete} of {p.arch.levels} levels", self._next_level(),
                               kind="structure")
            p.complete = True
        elif ctype == T_HEAD:
            raise SnfError("a second header chunk", self._next_level(), kind="structure")
        elif 65 <= ctype[0] <= 90:
            raise SnfError(f"unknown critical chunk {name!r}: this file needs a newer reader", self._next_level(),
                           kind="unsupported")
        elif ctype == T_META and p.meta is None:  # informative: kept if it parses, else ignored
            try:
                m = msgpack.unpackb(body, raw=False, strict_map_key=False)
                check_tree(m)  # the header's type and depth rule (section 2.2); informative, so a
                p.meta = m if isinstance(m, dict) else None  # meta chunk that breaks it is ignored
            except Exception:
                pass
        # other ancillary chunks (lower-case first letter) are skipped, whatever their level field

    def _decode_level(self, level: int, body: bytes) -> list:
        try:
            return self._decode_level_checked(level, body)
        except (SnfError, MemoryError):
            raise
        except Exception as e:  # never a crash for bad data: the level is a payload error
            raise SnfError(f"level {level}: malformed payload ({e.__class__.__name__})", level, kind="payload") from None

    def _decode_level_checked(self, level: int, body: bytes) -> list:
        p = self.parsed
        if isinstance(p.arch, LatentArch):  # latent family (section 11.3): needs the earlier levels
            try:
                return latentcode.decode_level(p.arch, level, tuple(int(s) for s in p.header["size"]), body,
                                               p.levels)
            except latentcode.LatentCodeError as e:
                raise SnfError(f"level {level}: {e}", level, kind="payload") from None
        grid = isinstance(p.arch, GridArch)
        quant = {} if grid else p.header["quant"]
        if grid and grid_coded(p.header):  # entropy-coded grid level, no zstd frame (section 9.3)
            try:
                return gridcode.decode_level(p.arch, level, tuple(int(s) for s in p.header["size"]), body,
                                             grid_ctx(p.header))
            except gridcode.GridCodeError as e:
                raise SnfError(f"level {level}: {e}", level, kind="payload") from None
        if not grid and quant.get("coding", "raw") in STORED_CODINGS:  # entropy-coded, no zstd frame (section 3.2)
            try:
                return PAYLOAD_CODINGS[quant["coding"]](p.arch, level, body, quant)
            except QuantError as e:
                raise SnfError(f"level {level}: {e}", level, kind="payload") from None
        want = gridcode.payload_size(p.arch, level, tuple(int(s) for s in p.header["size"])) if grid \
            else payload_size(p.arch, level, quant)
        import zstandard  # imported here: 10 ms of every decode otherwise, and 2.x levels never need it
        if self._dctx is None:
            self._dctx = zstandard.ZstdDecompressor()
        try:
            size, used = zstd_frame(body)
            if size is None:
                raise ValueError("no content size in the frame header")
            if size != want:
                raise ValueError(f"frame holds {size} bytes, expected {want}")
            if used != len(body):
                raise ValueError(f"{len(body) - used} bytes after the zstd frame")
            raw = self._dctx.decompress(body, max_output_size=want)
            if len(raw) != want:
                raise ValueError(f"payload is {len(raw)} bytes, expected {want}")
        except (ValueError, zstandard.ZstdError) as e:
            raise SnfError(f"level {level} chunk does not decompress ({e})", level, kind="payload") from None
        if grid:
            try:
                return gridcode.decode_level_raw(p.arch, level, tuple(int(s) for s in p.header["size"]), raw)
            except gridcode.GridCodeError as e:
                raise SnfError(f"level {level}: {e}", level, kind="payload") from None
        try:
            return PAYLOAD_CODINGS[quant.get("coding", "raw")](p.arch, level, raw, quant)
        except QuantError as e:
            raise SnfError(f"level {level}: {e}", level, kind="payload") from None

    def finish(self) -> Parsed:
        """Mark the end of input; a stream that stopped early gets its reason."""
        p = self.parsed
        if p.error is None and not p.complete:
            if p.header is None:
                p.error = SnfError("truncated .snf file (header incomplete)" if self.offset else "empty file",
                                   kind="truncated")
            elif p.levels_complete < p.arch.levels:
                p.error = SnfError(f"truncated: level {p.levels_complete + 1} of {p.arch.levels} incomplete",
                                   p.levels_complete + 1, kind="truncated")
            # every level complete but no end chunk (a file cut after its last level, or a
            # stream asked for ?level=K): nothing is missing; `complete` stays False
        return p


def read(data: bytes, decode: bool = True, upto: int | None = None) -> Parsed:
    """Read a whole file or any prefix of one; never raises for bad data (every problem is
    `Parsed.error`, an SnfError). `upto`: decode levels 1..upto only (a decode to level k
    touches no later level's payload)."""
    parser = Parser(decode=decode, upto=upto)
    parser.feed(data)
    return parser.finish()


def read_path(path: str, decode: bool = True, upto: int | None = None) -> Parsed:
    with open(path, "rb") as f:
        return read(f.read(), decode=decode, upto=upto)
