"""snf-bench: metrics against known values, BD-rate on known curves, the CompressAI JSON
shape of `rd`, and the seed-shaped table of `paper` on a 32x32 picture (shape and
counts, not time: the budgets here are tiny)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

pytest.importorskip("pytorch_msssim")
pytest.importorskip("imagecodecs")

from PIL import Image  # noqa: E402

from snf.bench import bdrate, codecs, metrics, refdata  # noqa: E402
from snf.bench.cli import main  # noqa: E402


def picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth picture with some detail (codecs and fields behave as on photos)."""
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rng = np.random.default_rng(seed)
    chans = [np.sin(2 * np.pi * (f * x + g * y)) for f, g in rng.uniform(0.5, 4, (3, 2))]
    return np.clip(127.5 + 100 * np.stack(chans, -1), 0, 255).astype(np.uint8)


def image_folder(tmp_path, name: str, w: int, h: int):
    """A folder holding one picture(w, h) as NAME.png: what `--images` takes."""
    images = tmp_path / "imgs"
    images.mkdir()
    Image.fromarray(picture(w, h)).save(images / f"{name}.png")
    return images


# -- metrics -----------------------------------------------------------------------------------

def test_psnr_identical_is_infinite_and_known_mse_gives_known_value():
    a = picture(40, 30)
    assert metrics.psnr(a, a) == math.inf
    b = a.astype(np.int16)
    b[::2] += 10
    b[1::2] -= 10  # every sample off by exactly 10 (no clipping: values stay in 27..228)
    b = b.astype(np.uint8)
    assert metrics.mse(a, b) == pytest.approx(100.0)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-9)  # 28.1308 dB


def test_ssim_and_ms_ssim_known_values():
    a = picture(192, 176)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(a + np.random.default_rng(1).normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert 0 < metrics.ssim(a, noisy) < 0.9
    assert metrics.ms_ssim(a, noisy) < 1.0
    # below 161 px a side MS-SSIM's five scales do not fit: reported as skipped, not faked
    small = picture(160, 200)
    assert metrics.ms_ssim(small, small) is None
    assert "160" in metrics.ms_ssim_skip_reason(small.shape)


def test_lpips_is_skipped_with_a_reason_or_scores_zero_on_identical():
    fn, why = metrics.lpips_status()
    a = picture(64, 64)
    if fn is None:
        assert why and metrics.lpips(a, a) is None
    else:
        assert metrics.lpips(a, a) == pytest.approx(0.0, abs=1e-4)


# -- BD-rate -----------------------------------------------------------------------------------

ANCHOR_RATE = [0.25, 0.5, 1.0, 2.0]
ANCHOR_PSNR = [28.0, 31.0, 34.0, 37.5]


def test_bd_rate_of_a_curve_needing_20_percent_fewer_bits_is_minus_20():
    test_rate = [0.8 * r for r in ANCHOR_RATE]
    assert bdrate.bd_rate_cubic(ANCHOR_RATE, ANCHOR_PSNR, test_rate, ANCHOR_PSNR) == pytest.approx(-20.0, abs=1e-9)
    assert bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, ANCHOR_PSNR) == pytest.approx(-20.0, abs=1e-6)
    assert bdrate.bd_rate_cubic(test_rate, ANCHOR_PSNR, ANCHOR_RATE, ANCHOR_PSNR) == pytest.approx(25.0, abs=1e-9)


def test_bd_rate_cubic_agrees_with_the_package_on_a_smooth_pair():
    # log-rate linear in PSNR for both (slope 1/6 per dB): a curve 1 dB better everywhere
    # needs exp(-1/6 * ln 4 ...) fewer bits; both implementations are exact on such curves
    psnr = np.array([28.0, 30.0, 32.0, 34.0, 36.0])
    rate = 0.1 * 2 ** ((psnr - 28) / 3)
    better = 0.1 * 2 ** ((psnr - 29) / 3)
    expected = (2 ** (-1 / 3) - 1) * 100
    assert bdrate.bd_rate_cubic(rate, psnr, better, psnr) == pytest.approx(expected, abs=1e-6)
    assert bdrate.bd_rate(rate, psnr, better, psnr) == pytest.approx(expected, abs=1e-3)


def test_bd_rate_refuses_curves_without_overlap_or_points():
    with pytest.raises(bdrate.BDRateError):
        bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [p + 20 for p in ANCHOR_PSNR])
    with pytest.raises(bdrate.BDRateError):
        bdrate.bd_rate(ANCHOR_RATE[:3], ANCHOR_PSNR[:3], ANCHOR_RATE, ANCHOR_PSNR)


# -- codecs ------------------------------------------------------------------------------------

def test_progressive_jpeg_prefix_improves_with_bytes_and_matches_the_whole_file():
    img = picture(96, 64)
    pj = codecs.ProgressiveJpeg(img)
    small, big = pj.at(1200), pj.at(max(len(f) for f in pj.files))
    assert small is not None and big is not None and big[0] > small[0]
    whole = max(metrics.psnr(img, codecs._pil_decode(f)) for f in pj.files)
    assert big[0] == pytest.approx(whole)


def test_jpeg2000_layer_prefixes_decode_and_rise():
    img = picture(128, 96)
    pts = codecs.LayeredJpeg2000(img).prefixes()
    sizes = [n for n, _ in pts]
    psnrs = [metrics.psnr(img, rec) for _, rec in pts]
    assert sizes == sorted(sizes) and len(pts) == len(codecs.J2K_LAYER_RATES)
    assert psnrs[-1] > psnrs[0] + 5


def test_reference_curves_say_reference_and_their_source():
    refs = refdata.reference_curves(["kodim03", "mine"])
    assert "reference-coolchic5-kodim03" in refs and not any("mine" in k for k in refs)
    for doc in refs.values():
        assert "reference" in doc["name"].lower() and doc["source"]
        assert len(doc["results"]["bpp"]) == len(doc["results"]["psnr-rgb"])


# -- the commands ------------------------------------------------------------------------------

def test_rd_writes_compressai_json_plot_and_sidecar(tmp_path, monkeypatch, capsys):
    from snf.bench import rd
    monkeypatch.setattr(rd, "snf_variants", lambda values, fields=None: ([{"bits": 8}], []))  # one encode keeps it short
    images = image_folder(tmp_path, "a", 48, 32)
    out = tmp_path / "out"
    assert main(["rd", "--images", str(images), "--budget", "0.5", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "MS-SSIM skipped" in text
    docs = {p: json.load(open(out / p)) for p in os.listdir(out) if p.endswith(".json") and p != "run.json"
            and p != "bd-rate.json"}
    assert {"snf-bits8.json", "jpeg.json", "webp.json", "jpeg-progressive-prefix-at-snf-bits8.json"} <= set(docs)
    for doc in docs.values():
        assert set(doc) >= {"name", "description", "results", "per_image"}
        r = doc["results"]
        assert len(r["bpp"]) == len(r["psnr-rgb"]) > 0 and "ms-ssim-rgb" not in r
        assert list(doc["per_image"]) == ["a"]
        assert "reference" not in doc["name"].lower()
    snf = docs["snf-bits8.json"]["per_image"]["a"]
    from snf.settings import EncodeSettings
    levels = len(EncodeSettings().widths_for(48 * 32))  # the default fitted to the picture
    assert len(snf["bpp"]) == levels and snf["bytes"] == sorted(snf["bytes"])
    assert snf["bpp"][0] == pytest.approx(snf["bytes"][0] * 8 / (48 * 32))
    refs = os.listdir(out / "reference")
    assert refs and all("reference" in json.load(open(out / "reference" / f))["name"].lower() for f in refs)
    assert (out / "rd.png").stat().st_size > 10_000
    side = json.load(open(out / "run.json"))
    assert side["command"].split()[1:3] == ["rd", "--images"] and side["versions"]["snf"]
    assert "bits=8" in text and "BD-rate" in text


def test_rd_measures_every_field_family_with_the_knobs_it_takes():
    from snf.bench import rd
    from snf.settings import FIELDS
    variants, notes = rd.snf_variants(None)
    assert [v["quality"] for v in variants if "field" not in v] == list(rd.QUALITIES)  # the siren, each quality
    for field in FIELDS[1:]:  # every other family: measured (at its knob, or once) or named with the reason
        assert any(v.get("field") == field for v in variants) or any(f"field {field} left out" in n for n in notes)
    assert {"field": "grid"} in variants and any(n.startswith("field grid measured once") for n in notes)
    # the documented default spelled out is accepted (issue 27: "quality 25 is not accepted")
    assert rd.snf_variants("25,50,75") == (variants, notes)
    with pytest.raises(rd.BenchError, match="quality 150"):
        rd.snf_variants("50,150")


def test_rd_fields_and_the_whole_file_curve_over_qualities(tmp_path, capsys):
    """--fields measures only the families named; two --values give a whole-file curve (each
    file's last level) with BD-rates against the whole-file codecs, AVIF among them."""
    from snf.bench import rd
    variants, notes = rd.snf_variants("25,75", "latent")
    assert variants == [{"field": "latent", "quality": 25}, {"field": "latent", "quality": 75}]
    assert any(n == "field siren left out: not in --fields" for n in notes)
    with pytest.raises(rd.BenchError, match="no field family 'jpeg'"):
        rd.snf_variants(None, "latent,jpeg")
    images = image_folder(tmp_path, "a", 48, 32)
    out = tmp_path / "out"
    assert main(["rd", "--images", str(images), "--fields", "latent", "--values", "25,75", "--steps", "30",
                 "--out", str(out), "--quiet"]) == 0
    last = json.load(open(out / "snf-fieldlatent-last-levels.json"))
    per = last["per_image"]["a"]
    q25 = json.load(open(out / "snf-fieldlatent-quality25.json"))["per_image"]["a"]
    q75 = json.load(open(out / "snf-fieldlatent-quality75.json"))["per_image"]["a"]
    assert per["quality"] == [25, 75]
    assert per["bytes"] == [q25["bytes"][-1], q75["bytes"][-1]] and per["psnr-rgb"] == [q25["psnr-rgb"][-1],
                                                                                          q75["psnr-rgb"][-1]]
    assert (out / "avif.json").exists() and "AVIF" in json.load(open(out / "avif.json"))["name"]
    bd = json.load(open(out / "bd-rate.json"))["rates"]
    assert set(bd["snf-fieldlatent-last-levels"]) >= {"webp", "avif", "jpegxl"}
    assert "snf-fieldlatent-last-levels" in capsys.readouterr().out


def test_rd_measures_a_latent_encode_whose_settings_live_in_the_meta_chunk():
    """The latent family writes its encoder record after the levels (format_spec.md 11.2):
    rd reads it from there (it once looked only in the header and stopped with a KeyError)."""
    from snf.bench import rd
    from snf.progress import Bar
    img = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    got = rd.measure_snf(img, {"field": "latent", "quality": 50}, None, Bar(quiet=True), "latent", False, steps=3)
    assert got["settings"]["field"] == "latent" and got["steps"] == [3]
    assert len(got["points"]) >= 2


def test_paper_prints_the_seed_shaped_table(tmp_path, capsys):
    images = image_folder(tmp_path, "t", 32, 32)
    out = tmp_path / "out"
    assert main(["paper", "--images", str(images), "--budget", "0.3", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    tables = [[]]  # the markdown tables in the order printed: Table 1 (spectral), then Table 3 (spatial)
    for line in text.splitlines():
        if line.startswith("| ") and "---" not in line:
            if line.startswith("| method") and tables[-1]:
                tables.append([])
            tables[-1].append([c.strip() for c in line.split("|")[1:-1]])
    head, body = tables[0][0], tables[0][1:]
    spatial = {m: [int(r[3].replace(",", "")) for r in tables[1][1:] if r[0] == m] for m in ("individual", "progressive")}
    assert spatial == {"individual": [14517, 29034, 43551, 58068], "progressive": [14517, 29095, 44515, 58453]}
    assert head[:7] == ["method", "sub-network", "width", "params", "PSNR", "SSIM", "LPIPS"]
    assert "reference PSNR" in head
    assert [r[0] for r in body] == ["individual"] * 4 + ["slimmable"] * 4 + ["progressive"] * 4
    params = {m: [int(r[3].replace(",", "")) for r in body if r[0] == m] for m in ("individual", "progressive")}
    assert params["individual"] == [3903, 15003, 33303, 58803]
    assert params["progressive"] == [3903, 15057, 33507, 58681]
    assert all(float(r[4]) > 5 and 0 <= float(r[5]) <= 1 for r in body)
    doc = json.load(open(out / "paper-spectral.json"))
    cells = doc["per_image"]["t"]["methods"]
    assert set(cells) == {"individual", "slimmable", "progressive"}
    assert all(len(c["levels"]) == 4 for c in cells.values())
    assert doc["reference"]["psnr-rgb"]["progressive"][3] == 30.91


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["rd", "--images", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snf-bench:") and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
