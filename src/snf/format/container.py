"""The .snf container: signature, chunks (length, type, level, data, CRC-32).

`Parser` is the one reader: it is fed bytes as they arrive (the client and the
server feed it network chunks; `read` feeds it a whole file) and reports each
level the moment its chunk is complete. See format_spec.md, which this follows
byte for byte.
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field

import msgpack
import zstandard

from snf.field.arch import Arch, ArchError
from snf.field.grid import GridArch, GridArchError
from snf.format import coded, gridcode
from snf.format.quant import QuantError, check_bits, decode_level, payload_size

SIGNATURE = b"\x89SNF\r\n\x1a\n"
VERSION = (2, 0)          # written when the levels are entropy-coded (quant.coding "rans-laplace")
VERSION_1 = (1, 0)        # written for zstd-framed fixed-bit levels; still read
GRID_VERSION = (3, 0)     # a grid-family file (section 8): 1.x and 2.x readers refuse it by its version
MAJORS = (1, 2, 3)        # major versions this reader knows
FIELDS = ("siren", "grid")  # field families this reader understands (header key `field`, must-understand)
MIME_TYPE = "application/vnd.snf"
EXTENSION = ".snf"
PREFIX_LEN = len(SIGNATURE) + 2
CHUNK_HEAD = struct.Struct(">I4sH")  # data length, type, level
CHUNK_OVERHEAD = CHUNK_HEAD.size + 4  # + CRC-32

T_HEAD, T_LEVEL, T_END = b"HEAD", b"LEVL", b"SEND"

MAX_HEADER_BYTES = 1 << 20
MAX_CHUNK_BYTES = 64 << 20
MAX_PIXELS = 1 << 28
MAX_SIDE = 65536
MAX_FRAMES = 4096
SIGNALS = ("image", "signal1d", "video", "sdf")


class SnfError(Exception):
    """A problem with an .snf stream, in one line. `level` names a bad level chunk."""

    def __init__(self, message: str, level: int | None = None):
        super().__init__(message)
        self.level = level


def accept(prefix: bytes) -> bool:
    """Whether bytes start like an .snf file (for sniffing and the Pillow plugin)."""
    return prefix[: len(SIGNATURE)] == SIGNATURE[: len(prefix)] and len(prefix) > 0


# ---------------------------------------------------------------- writing

def chunk(ctype: bytes, level: int, data: bytes) -> bytes:
    head = CHUNK_HEAD.pack(len(data), ctype, level)
    return head + data + struct.pack(">I", zlib.crc32(head[4:] + data))


def field_of(header: dict) -> str:
    """The header's field family: `field`, "siren" when absent (every 1.x and 2.x file)."""
    return header.get("field", "siren") if isinstance(header, dict) else "siren"


def is_coded(header: dict) -> bool:
    """Whether a header's levels are entropy-coded (a 2.x file) rather than zstd-framed (1.x)."""
    q = header.get("quant") if isinstance(header, dict) else None
    return isinstance(q, dict) and "coding" in q


def build(header: dict, payloads: list, zstd_level: int = 19) -> bytes:
    """A whole .snf file from a header map and level payloads: entropy-coded ones
    (`coded.encode_level`, header quant.coding set) make a 2.0 file stored as they
    are; raw fixed-bit ones (`quant.encode_level`) a 1.0 file, each zstd-framed; a
    grid field (header `field` "grid", `gridcode.encode_level`) a 3.0 file, zstd-framed."""
    grid = field_of(header) == "grid"
    coded_levels = is_coded(header) and not grid
    version = GRID_VERSION if grid else VERSION if coded_levels else VERSION_1
    validate_header(header, version[0])
    cctx = zstandard.ZstdCompressor(level=zstd_level, write_content_size=True, write_checksum=False)
    parts = [SIGNATURE, bytes(version), chunk(T_HEAD, 0, msgpack.packb(header, use_bin_type=True))]
    for k, raw in enumerate(payloads, 1):
        parts.append(chunk(T_LEVEL, k, raw if coded_levels else cctx.compress(raw)))
    parts.append(chunk(T_END, 0, b""))
    return b"".join(parts)


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: never half-written.

    `durable` also flushes to disk before the rename (worth it for an encode that
    took minutes; a decoded picture can skip it and save tens of milliseconds)."""
    folder = os.path.dirname(os.path.abspath(path))
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

def validate_header(h: dict, major: int = VERSION[0]):
    """Check a header map (of a file with this major version) against the hard limits; return
    its architecture (`Arch` for the SIREN family, `GridArch` for the grid family)."""
    if not isinstance(h, dict):
        raise SnfError("header is not a map")
    fam = field_of(h)
    if major >= 3 and "field" not in h:
        raise SnfError("header: a 3.x file must name its field family (key 'field')")
    if fam not in FIELDS:
        raise SnfError(f"field family {str(fam)[:40]!r} is not supported by this reader "
                       f"(it reads {', '.join(FIELDS)})")
    if fam == "grid":
        if major < 3:
            raise SnfError("header: a grid field needs container version 3")
        return _validate_grid_header(h)
    try:
        arch = Arch.from_dict(h.get("arch"))
    except ArchError as e:
        raise SnfError(f"header: {e}") from None
    signal = h.get("signal")
    if signal not in SIGNALS:
        raise SnfError(f"header: unknown signal kind {signal!r}")
    size = h.get("size")
    if not (isinstance(size, list) and 1 <= len(size) <= 3 and all(isinstance(s, int) and 1 <= s <= MAX_SIDE for s in size)):
        raise SnfError(f"header: bad size {size!r}")
    n = 1
    for s in size:
        n *= s
    if n > MAX_PIXELS:
        raise SnfError(f"header: {n} samples exceed the limit {MAX_PIXELS}")
    if signal == "video" and size[2] > MAX_FRAMES:
        raise SnfError(f"header: {size[2]} frames exceed the limit {MAX_FRAMES}")
    if h.get("channels") != arch.d_out:
        raise SnfError("header: channels differ from the architecture's outputs")
    q = h.get("quant")
    if major >= 2:
        if not isinstance(q, dict) or q.get("coding") != coded.CODING:
            raise SnfError(f"header: quant.coding must be {coded.CODING!r} in a {major}.x file")
        for k in range(1, arch.levels + 1):
            if coded.head_size(arch, k) + arch.level_params(k) > MAX_CHUNK_BYTES:
                raise SnfError(f"header: level {k} would exceed the chunk limit")
        return arch
    try:
        if not isinstance(q, dict) or q.get("scale") != "row":
            raise QuantError("quantisation must be a map with scale 'row'")
        check_bits(q.get("bits", 0))
        check_bits(q.get("bits_small", 0))
    except (QuantError, TypeError) as e:
        raise SnfError(f"header: {e}") from None
    for k in range(1, arch.levels + 1):
        if payload_size(arch, k, q) > MAX_CHUNK_BYTES:
            raise SnfError(f"header: level {k} would exceed the chunk limit")
    return arch


def _validate_grid_header(h: dict) -> GridArch:
    try:
        arch = GridArch.from_dict(h.get("arch"))
    except GridArchError as e:
        raise SnfError(f"header: {e}") from None
    if h.get("signal") != "image":
        raise SnfError(f"header: a grid field holds an image, not {h.get('signal')!r}")
    size = h.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and 1 <= s <= MAX_SIDE for s in size)):
        raise SnfError(f"header: bad size {size!r}")
    if size[0] * size[1] > MAX_PIXELS:
        raise SnfError(f"header: {size[0] * size[1]} samples exceed the limit {MAX_PIXELS}")
    if h.get("channels") != arch.d_out:
        raise SnfError("header: channels differ from the architecture's outputs")
    try:
        arch.check_size(tuple(size))
    except GridArchError as e:
        raise SnfError(f"header: {e}") from None
    for k in range(1, arch.levels + 1):
        if gridcode.payload_size(arch, k, tuple(size)) > MAX_CHUNK_BYTES:
            raise SnfError(f"header: level {k} would exceed the chunk limit")
    return arch


# ---------------------------------------------------------------- reading

@dataclass
class Parsed:
    """What a parser has read so far."""
    header: dict | None = None
    arch: Arch | None = None
    levels: list = field(default_factory=list)   # dequantised tensors per complete level
    ends: list = field(default_factory=list)     # file offset just past each level's chunk
    header_end: int = 0
    version: tuple = VERSION
    complete: bool = False                       # the end chunk was read
    error: SnfError | None = None                # why reading stopped early, if it did

    @property
    def levels_complete(self) -> int:
        return len(self.levels)


class Parser:
    """Incremental reader: `feed(data)` returns the levels completed by that data.

    After an error the parser keeps what it had and ignores further bytes; the
    error is in `parsed.error` (and raised by `feed` once, when `strict`).
    """

    def __init__(self, strict: bool = False, decode: bool = True):
        self.parsed = Parsed()
        self.strict = strict
        self.decode = decode
        self._buf = bytearray()
        self._offset = 0   # file offset of _buf[0]
        self._dctx = zstandard.ZstdDecompressor()
        self.major = None  # the file's major version, once read

    @property
    def offset(self) -> int:
        """Bytes consumed so far."""
        return self._offset + len(self._buf)

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
        return done

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._offset += n
        return out

    def _step(self, done: list) -> bool:
        p = self.parsed
        if self._offset == 0:
            if not self._buf:
                return False
            if not accept(bytes(self._buf[: len(SIGNATURE)])):
                raise SnfError("not an .snf file (bad signature)")
            if len(self._buf) < PREFIX_LEN:
                return False
            major, minor = self._buf[len(SIGNATURE)], self._buf[len(SIGNATURE) + 1]
            if major not in MAJORS:
                raise SnfError(f"unsupported .snf version {major}.{minor} "
                               f"(this reader reads {' and '.join(f'{m}.x' for m in MAJORS)})")
            self.major = major
            self.parsed.version = (major, minor)
            self._take(PREFIX_LEN)
            return True
        if len(self._buf) < CHUNK_HEAD.size:
            return False
        length, ctype, level = CHUNK_HEAD.unpack_from(self._buf)
        self._check_chunk_head(length, ctype, level)
        if len(self._buf) < CHUNK_HEAD.size + length + 4:
            return False
        raw = self._take(CHUNK_HEAD.size + length + 4)
        body, crc = raw[CHUNK_HEAD.size:-4], struct.unpack(">I", raw[-4:])[0]
        if zlib.crc32(raw[4:-4]) != crc:
            if ctype == T_LEVEL:
                raise SnfError(f"level {level} chunk is corrupt (CRC mismatch)", level)
            raise SnfError(f"{ctype.decode('latin-1')} chunk is corrupt (CRC mismatch)")
        self._on_chunk(ctype, level, body, done)
        return not p.complete

    def _check_chunk_head(self, length: int, ctype: bytes, level: int) -> None:
        p = self.parsed
        if p.header is None:
            if ctype != T_HEAD:
                raise SnfError("not an .snf file (no header chunk)")
            if length > MAX_HEADER_BYTES:
                raise SnfError("header chunk exceeds the size limit")
            return
        if length > MAX_CHUNK_BYTES:
            raise SnfError(f"chunk of {length} bytes exceeds the limit", level if ctype == T_LEVEL else None)
        if ctype == T_LEVEL and level != p.levels_complete + 1:
            raise SnfError(f"level chunk {level} out of order (expected {p.levels_complete + 1})", level)

    def _on_chunk(self, ctype: bytes, level: int, body: bytes, done: list) -> None:
        p = self.parsed
        if ctype == T_HEAD:
            try:
                header = msgpack.unpackb(body, raw=False, strict_map_key=False, max_bin_len=MAX_HEADER_BYTES)
            except Exception:
                raise SnfError("header chunk is not valid msgpack") from None
            p.arch = validate_header(header, self.major)
            p.header, p.header_end = header, self._offset
        elif ctype == T_LEVEL:
            if level > p.arch.levels:
                raise SnfError(f"level chunk {level} beyond the {p.arch.levels} levels in the header", level)
            p.levels.append(self._decode_level(level, body) if self.decode else None)
            p.ends.append(self._offset)
            done.append(level)
        elif ctype == T_END:
            if p.levels_complete != p.arch.levels:
                raise SnfError(f"end chunk after {p.levels_complete} of {p.arch.levels} levels")
            p.complete = True
        elif ctype[:1].isupper():
            raise SnfError(f"unknown critical chunk {ctype!r}")
        # ancillary chunks (lower-case first letter) are skipped

    def _decode_level(self, level: int, body: bytes) -> list:
        p = self.parsed
        if isinstance(p.arch, GridArch):
            return self._decode_grid_level(level, body)
        if self.major >= 2:  # entropy-coded, stored as is (format_spec.md 3.2)
            try:
                return coded.decode_level(p.arch, level, body)
            except QuantError as e:
                raise SnfError(f"level {level}: {e}", level) from None
        want = payload_size(p.arch, level, p.header["quant"])
        try:
            raw = self._dctx.decompress(body, max_output_size=want)
        except zstandard.ZstdError as e:
            raise SnfError(f"level {level} chunk does not decompress ({e})", level) from None
        try:
            return decode_level(p.arch, level, raw, p.header["quant"])
        except QuantError as e:
            raise SnfError(f"level {level}: {e}", level) from None

    def _decode_grid_level(self, level: int, body: bytes) -> list:
        p = self.parsed
        size = tuple(p.header["size"])
        want = gridcode.payload_size(p.arch, level, size)
        try:
            raw = self._dctx.decompress(body, max_output_size=want)
        except zstandard.ZstdError as e:
            raise SnfError(f"level {level} chunk does not decompress ({e})", level) from None
        try:
            return gridcode.decode_level(p.arch, level, size, raw)
        except gridcode.GridCodeError as e:
            raise SnfError(f"level {level}: {e}", level) from None

    def finish(self) -> Parsed:
        """Mark the end of input; a stream that stopped early gets its reason."""
        p = self.parsed
        if p.error is None and not p.complete:
            if p.header is None:
                p.error = SnfError("truncated .snf file (header incomplete)" if self.offset else "empty file")
            elif p.levels_complete < p.arch.levels:
                p.error = SnfError(f"truncated: level {p.levels_complete + 1} of {p.arch.levels} incomplete",
                                   p.levels_complete + 1)
            # every level complete but no end chunk: a stream cut with ?level=K at the last
            # level looks like this; nothing is missing, `complete` stays False
        return p


def read(data: bytes, decode: bool = True) -> Parsed:
    """Read a whole file or any prefix of one; never raises for bad data."""
    parser = Parser(decode=decode)
    parser.feed(data)
    return parser.finish()


def read_path(path: str, decode: bool = True) -> Parsed:
    with open(path, "rb") as f:
        return read(f.read(), decode=decode)
