"""The upload docs are what the server does: the form table is generated from the settings,
the documented curl line uploads, /docs can authorise and its example form succeeds as given,
and the 202 example has the shape of a real answer (issue 27, item 5)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import httpx
import pytest

pytest.register_assert_rewrite("snf_serve_fixtures")
from snf_serve_fixtures import TOKEN, Served, tiny_png  # noqa: E402

from snf.serve import uploads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVE_README = os.path.join(ROOT, "src", "snf", "serve", "README.md")


def _readme() -> str:
    with open(SERVE_README, encoding="utf-8") as f:
        return f.read()


def test_the_form_table_lists_every_field_the_server_takes():
    text = _readme()
    table = text.split("<!-- upload-form -->\n", 1)[1].split("<!-- /upload-form -->", 1)[0]
    assert table == uploads.form_table(), "run: python -m snf.serve.uploads (and paste it into the README)"
    listed = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert listed == {"file", *uploads.FIELDS}
    assert uploads.CURL_EXAMPLE in text.split("<!-- curl-example -->", 1)[1]


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads") / "assets"
    folder.mkdir()
    served = Served(folder, TOKEN)
    yield served
    served.stop()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_line_uploads(upload_server, tmp_path):
    tiny_png(tmp_path / "photo.png")
    line = uploads.CURL_EXAMPLE.replace("http://127.0.0.1:8000", upload_server.base)
    r = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SNF_TOKEN": TOKEN})
    assert r.returncode == 0, r.stderr
    import json
    job = json.loads(r.stdout)
    assert job["state"] in ("queued", "running") and job["asset_id"] == "photo"
    assert set(job) == set(uploads.job_example())  # the OpenAPI example has the real answer's keys
    assert set(job["params"]) == set(uploads.job_example()["params"])


def test_docs_authorise_with_the_bearer_token_and_the_example_form_succeeds(upload_server, tmp_path):
    schema = httpx.get(upload_server.base + "/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]  # /docs shows Authorize
    post = schema["paths"]["/v1/assets"]["post"]
    assert post["security"] == [{name: []} for name in schemes]
    assert post["responses"]["202"]["content"]["application/json"]["example"]["state"] == "queued"
    props = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    # what Swagger UI's "Try it out" sends: each field's example, and a file
    form = {name: p["example"] for name, p in props.items() if name != "file"}
    assert set(form) == set(uploads.FIELDS)
    png = tiny_png(tmp_path / "docs-example.png")
    with open(png, "rb") as f:
        r = httpx.post(upload_server.base + "/v1/assets", data=form, files={"file": ("docs-example.png", f)},
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 202, r.text
    assert httpx.post(upload_server.base + "/v1/assets", data=form, files={"file": ("x.png", b"")}).status_code == 401
