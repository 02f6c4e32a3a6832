"""Labelled data uploaded on the Models page: streamed to disk, imported by the CLI's importer in a child process,
all or nothing, with the CLI's limits; admins only."""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path

import pytest

from bench.site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from dashboard.uploads_views import register_uploads
from dashboard.models_views import register_models
from finetune.dataset import SiteDataset
from tests.conftest import TEST_IMGSZ
from tests.dashboard_support import build_site, csrf
from vigil.config import load_config
from vigil.finetune_service import SiteFinetuning

pytestmark = pytest.mark.slow
IMPORT_DEADLINE_S = 120.0
MAX_UPLOAD_MB = 1.0


@pytest.fixture
def uploads_site(tmp_path: Path, users_db: Path, write_config, sample_video):
    site = build_site(tmp_path / "site", users_db)
    path = write_config({
        "cameras": {"lobby": {"url": str(sample_video)}},
        "detector": {"imgsz": TEST_IMGSZ, "device": "cpu"},
        "storage": {"database": str(site.media_dir.parent / "vigil.db"), "media_dir": str(site.media_dir)},
        "finetune": {"datasets_dir": str(tmp_path / "datasets"), "models_dir": str(tmp_path / "models"),
                     "runs_dir": str(tmp_path / "runs"), "max_upload_mb": MAX_UPLOAD_MB},
    })
    service = SiteFinetuning(load_config(path), site.store)
    uploads = service.uploads(path)
    register_models(site.app, service)
    register_uploads(site.app, uploads)
    yield site, uploads, tmp_path
    service.stop()
    site.store.close()


@pytest.fixture(scope="module")
def labelled_clip(tmp_path_factory, sample_video) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("clip")
    frames = list(package_scene(sample_video, every=5, start_s=0, end_s=4, seed=0))  # a package from the start
    write_labelled_clip(frames, folder / "gate.mp4", folder / "gate.xml", fps=2)
    return (folder / "gate.xml").read_bytes(), (folder / "gate.mp4").read_bytes()


def _upload(client, **fields):
    data = {"csrf_token": csrf(client), "format": "cvat-video", "every": "1", **fields}
    return client.post("/models/datasets/import", data=data, content_type="multipart/form-data")


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    buffer.seek(0)
    return buffer


def test_an_admin_uploads_a_cvat_clip_and_sees_what_was_imported(uploads_site, labelled_clip) -> None:
    site, uploads, folder = uploads_site
    client = site.client("admin")
    xml, video = labelled_clip
    response = _upload(client, new_dataset="yard", add_classes=PACKAGE_CLASS,
                       annotations=(io.BytesIO(xml), "gate.xml"), video=(io.BytesIO(video), "gate.mp4"))
    assert response.status_code == 303, response.text
    token = response.headers["Location"].rsplit("/", 1)[1]
    task = uploads.wait(token, IMPORT_DEADLINE_S)
    assert task.status == "succeeded", task.error
    page = client.get(f"/models/imports/{token}").text
    assert re.search(r"<strong data-frames>8</strong> frame\(s\) into yard", page)
    assert re.search(rf'<tr data-class="{PACKAGE_CLASS}"><td>{PACKAGE_CLASS}</td><td class="num">[1-8]</td>', page)
    summary = SiteDataset.open(folder / "datasets", "yard").summary()
    assert summary["samples"] == 8 and summary["labels"][PACKAGE_CLASS] == task.summary["labels"][PACKAGE_CLASS]
    assert not list((folder / "runs" / "uploads").iterdir()), "the uploaded files are removed after the import"
    assert "yard" in client.get("/models").text, "the new dataset is offered for retraining"


def test_a_zip_slip_archive_is_refused_and_nothing_is_imported(uploads_site) -> None:
    site, uploads, folder = uploads_site
    client = site.client("admin")
    archive = _zip({"../../escaped.txt": b"0 0.5 0.5 0.1 0.1\n", "images/a.jpg": b"not a jpeg"})
    response = _upload(client, format="yolo", new_dataset="yard", archive=(archive, "export.zip"))
    token = response.headers["Location"].rsplit("/", 1)[1]
    task = uploads.wait(token, IMPORT_DEADLINE_S)
    assert task.status == "failed" and "points outside the archive's folder" in task.error, task.error
    assert "Nothing was imported" in client.get(f"/models/imports/{token}").text
    assert not (folder / "datasets" / "yard").exists() or not SiteDataset.open(folder / "datasets", "yard").entries()
    assert not list(folder.rglob("escaped.txt"))


def test_oversized_uploads_are_refused_with_the_limit(uploads_site) -> None:
    site, uploads, _ = uploads_site
    client = site.client("admin")
    big = int(MAX_UPLOAD_MB * 1.5 * (1 << 20))
    response = _upload(client, format="yolo", new_dataset="yard", archive=(io.BytesIO(b"\0" * big), "export.zip"))
    assert response.status_code == 303
    assert re.search(r"Nothing imported: archive.zip is \d+ bytes, over the limit of 1048576 bytes",
                     client.get("/models").text)
    huge = io.BytesIO(b"\0" * (4 << 20))
    response = _upload(client, format="yolo", new_dataset="yard", archive=(huge, "export.zip"))
    assert response.status_code == 413 and "over the limit" in response.text


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_may_not_upload(uploads_site, labelled_clip, role) -> None:
    site, uploads, folder = uploads_site
    client = site.client(role)
    xml, video = labelled_clip
    response = _upload(client, new_dataset="yard", annotations=(io.BytesIO(xml), "gate.xml"),
                       video=(io.BytesIO(video), "gate.mp4"))
    assert response.status_code == 403
    assert client.get("/models/imports/anything").status_code == 403
    assert "data-upload" not in client.get("/models").text
    assert not (folder / "runs" / "uploads").exists() or not list((folder / "runs" / "uploads").iterdir())


def test_bad_upload_forms_name_what_is_wrong(uploads_site) -> None:
    site, _, _ = uploads_site
    client = site.client("admin")
    for fields, message in [
        ({"new_dataset": "../x"}, "invalid dataset name"),
        ({"new_dataset": "yard", "format": "pdf"}, "unknown format 'pdf'"),
        ({"new_dataset": "yard"}, "cvat-video needs an annotations file"),
        ({"new_dataset": "yard", "annotations": (io.BytesIO(b"<x/>"), "a.txt"), "video": (io.BytesIO(b"v"), "v.mp4")},
         "the annotations file 'a.txt' must end in .xml"),
        ({"new_dataset": "yard", "every": "often"}, "every must be a whole number"),
    ]:
        assert _upload(client, **fields).status_code == 303
        assert message in html.unescape(client.get("/models").text), message
