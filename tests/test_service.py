"""The one encode service (snf.encode.service): every field family returns the same result
shape, every front end's bytes are the service's, and the package has no import circles."""
import ast
import hashlib
import os

import numpy as np
import pytest

from conftest import synthetic_image
from snf.settings import FIELDS, EncodeSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
# a small SIREN at few steps: seconds, not minutes
SIREN = dict(widths=(4, 8), layers=3, steps=5, seed=3)


def _signals():
    """One tiny input per (field, kind) the encoder's family table lists."""
    import trimesh
    from snf.encode.service import Signal
    from snf.signals.sdf import mesh_samples
    img = synthetic_image(12, 8)
    video = np.stack([synthetic_image(8, 6, seed=s) for s in range(3)])
    pts, normals = mesh_samples(trimesh.creation.icosphere(subdivisions=2, radius=1.0), 600)
    return {
        ("siren", "image"): (Signal("image", (img,)), EncodeSettings(**SIREN)),
        ("siren", "video"): (Signal("video", (video,), {"fps": 4}), EncodeSettings(**SIREN, grow="temporal")),
        ("siren", "sdf"): (Signal("sdf", (pts, normals)), EncodeSettings(**SIREN, signal="sdf", batch=256)),
        ("grid", "image"): (Signal("image", (img,)), EncodeSettings(field="grid", grid="1:4,0:4", steps=3, seed=3)),
        ("latent", "image"): (Signal("image", (img,)), EncodeSettings(field="latent", steps=3, seed=3)),
    }


@pytest.fixture(scope="module")
def encoded():
    from snf.encode import service
    return {key: service.encode(sig, s) for key, (sig, s) in _signals().items()}


def test_every_family_in_the_table_is_a_setting_and_back():
    from snf.encode.encoder import FAMILIES
    assert set(FAMILIES) == set(FIELDS)
    assert set(FAMILIES["siren"]) == {"image", "video", "sdf"}


def test_every_family_returns_the_same_shape(encoded):
    from snf.decode.decoder import decompress
    from snf.encode.encoder import Encoded
    from snf.format.container import read
    from snf.encode.encoder import FAMILIES
    assert set(encoded) == {(f, k) for f, kinds in FAMILIES.items() for k in kinds}
    for (field, kind), r in encoded.items():
        assert set(r) == set(Encoded.__annotations__), (field, kind)
        n = r["arch"].levels
        assert isinstance(r["bytes"], bytes) and read(r["bytes"]).header == r["header"]
        assert r["header"]["signal"] == kind and r["header"].get("field", "siren") == field
        if field == "latent":  # its figures travel in the ancillary meta chunk (format_spec.md 11.2)
            assert "levels" not in r["header"] and read(r["bytes"]).meta["levels"] == r["levels"]
        else:
            assert r["levels"] is r["header"]["levels"]
        assert len(r["levels"]) == n
        assert all(isinstance(lv["steps"], int) and lv["steps"] > 0 for lv in r["levels"]), (field, kind)
        assert all(("psnr" in lv) != ("chamfer" in lv) for lv in r["levels"])
        assert {k: len(v) for k, v in r["timing"].items()} == \
            {"stage_seconds": len(r["timing"]["stage_steps"]), "stage_ends": len(r["timing"]["stage_steps"]),
             "stage_steps": len(r["timing"]["stage_steps"])}
        assert len(r["bits_per_param"]) == n
        assert all(v and all(b > 0 for b in v.values()) for v in r["bits_per_param"]), (field, kind)
        if kind == "image":
            assert decompress(r["bytes"])["image"].shape == (8, 12, 3)


def test_the_service_dispatches_on_the_field(encoded):
    """compress (the public image entry) and the service give the same bytes for each family."""
    from snf.encode.encoder import compress
    for field in ("siren", "grid", "latent"):
        sig, s = _signals()[(field, "image")]
        assert compress(sig.args[0], s)["bytes"] == encoded[(field, "image")]["bytes"]


def test_a_family_without_the_kind_is_one_line():
    from snf.encode import service
    sig, _ = _signals()[("siren", "video")]
    with pytest.raises(ValueError, match="field grid does not encode videos"):
        service.encode(sig, EncodeSettings(field="grid", steps=1))


def test_encode_file_summary_matches_the_file(tmp_path, tiny_png):
    from snf.encode import service
    out = tmp_path / "t.snf"
    s = EncodeSettings(**SIREN)
    summary = service.encode_file(tiny_png, str(out), s, threads=1)
    data = out.read_bytes()
    assert summary.sha256 == hashlib.sha256(data).hexdigest() and summary.size == len(data)
    assert (summary.kind, summary.levels, summary.samples) == ("image", 2, 40 * 32)
    assert summary.line(str(out)).startswith(f"wrote {out}: image, 2 levels, {len(data):,} bytes, ")
    assert summary.brief() == f"2 levels, {len(data):,} bytes, last level {summary.last['psnr']:.2f} dB"
    assert [p for p in os.listdir(tmp_path)] == ["t.snf"]  # nothing else left behind
    # the same encode by every front end: the CLI, a batch task, the server's worker
    from test_cli import cli
    by_cli = tmp_path / "cli.snf"
    r = cli("snf-encode", tiny_png, "-o", by_cli, "--widths", "4,8", "--layers", "3", "--steps", "5", "--seed", "3",
            "--threads", "1")
    assert r.returncode == 0 and by_cli.read_bytes() == data
    assert r.stderr.splitlines()[-1] == summary.line(str(by_cli))
    from snf.batch.task import encode_bytes
    task = encode_bytes("tiny", open(tiny_png, "rb").read(), s.to_dict(), threads=1)
    assert task["bytes"] == data and task["sha256"] == summary.sha256 and task["levels"] == 2


def test_server_worker_places_the_services_bytes(tmp_path, tiny_png):
    from snf.encode import service
    from snf.serve.catalog import Catalog
    from snf.serve.config import Settings
    from snf.serve.worker import encode
    s = EncodeSettings(**SIREN)
    want = service.encode(service.load(tiny_png, s), s)["bytes"]
    settings = Settings(root=str(tmp_path))
    catalog = Catalog(settings.db_path)
    job_id = "c" * 32
    catalog.add_job(job_id, "pic", {"settings": s.to_dict(), "threads": 1}, "in.png")
    job = catalog.claim_next()
    os.makedirs(settings.job_dir(job_id))
    with open(tiny_png, "rb") as f:
        open(os.path.join(settings.job_dir(job_id), "in.png"), "wb").write(f.read())
    message = encode(settings, catalog, job)
    placed = (tmp_path / "pic.snf").read_bytes()
    assert placed == want and catalog.job(job_id)["output_sha256"] == hashlib.sha256(want).hexdigest()
    assert message.startswith(f"2 levels, {len(want):,} bytes, last level ")


def _imports() -> dict:
    """snf module -> the snf modules it imports anywhere (top level or inside functions)."""
    mods = {}
    for folder, _, names in os.walk(os.path.join(SRC, "snf")):
        for n in names:
            if n.endswith(".py"):
                m = os.path.relpath(os.path.join(folder, n), SRC)[:-3].replace(os.sep, ".")
                mods[m.removesuffix(".__init__")] = os.path.join(folder, n)
    graph = {}
    for m, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        package = m if path.endswith("__init__.py") else m.rpartition(".")[0]
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for a in node.names:
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base)
        # the root package `snf` is a facade (`snf.compress` imports the encoder when called) that
        # every submodule's import runs first anyway: an edge to it orders nothing
        graph[m] = {d for d in deps if d in mods and d not in (m, "snf")}
    return graph


def test_no_import_circles():
    graph, cycles = _imports(), []
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_torch_threads_are_set_in_one_place():
    """Only snf/encode/runtime.py calls torch.set_num_threads (the front ends call it)."""
    found = []
    for folder, _, names in os.walk(os.path.join(SRC, "snf")):
        for n in names:
            if n.endswith(".py"):
                with open(os.path.join(folder, n), encoding="utf-8") as f:
                    if "set_num_threads(" in f.read():
                        found.append(os.path.relpath(os.path.join(folder, n), SRC))
    assert found == [os.path.join("snf", "encode", "runtime.py")]
