"""A real browser (Debian's chromium via Playwright) against `vigil run` on the sample video."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from finetune.dataset import LabelBox, Sample, SiteDataset
from tests.conftest import ROOT, TEST_IMGSZ
from tests.test_store_outage import wait_until

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct horse battery"


@pytest.fixture
def running_vigil(sample_video, write_config, tmp_path):
    """`vigil run` with its dashboard on a free port, an operator and an admin account, and a first alert raised."""
    config = write_config({
        "cameras": {"lobby": {"url": str(sample_video), "detect_fps": 5, "loop": True,
                              "zones": {"walkway": [[0.0, 0.28], [0.75, 0.28], [0.95, 0.62], [0.0, 0.45]]}}},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu"},
        "rules": [{"name": "seen", "kind": "presence", "classes": ["person"], "min_score": 0.35,
                   "min_duration_s": 1, "cooldown_s": 5}],
        "record": {"segment_s": 2},
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media"),
                    "recordings_dir": str(tmp_path / "recordings"), "clips": {"pre_s": 1, "post_s": 1}},
        "dashboard": {"port": 0},
    })
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VIGIL_PASSWORD": PASSWORD}
    for name, role in (("olga", "operator"), ("boss", "admin")):
        added = subprocess.run([sys.executable, "-m", "vigil", "user", "add", name, "--role", role,
                                "-c", str(config)], capture_output=True, text=True, env=env, timeout=60)
        assert added.returncode == 0, added.stderr
    process = subprocess.Popen([sys.executable, "-m", "vigil", "run", "-c", str(config)], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env=env)
    url = None
    try:
        for line in process.stderr:
            url = url or (m.group(1) if (m := re.search(r"dashboard on (http://\S+)", line)) else None)
            if url and "alert 1:" in line:
                break
        else:
            pytest.fail("vigil run ended before serving the dashboard and raising an alert")
        later: list[str] = []
        drain = threading.Thread(target=lambda: later.extend(process.stderr), daemon=True)
        drain.start()  # keep reading so the process never blocks on a full pipe
        yield url, tmp_path / "vigil.db", config
    finally:
        process.terminate()
        process.wait(timeout=60)
    drain.join(timeout=10)
    assert process.returncode == 0
    assert not [line for line in later if "Traceback" in line or "exception" in line], "a clean shutdown"


def first_with_clip(database: Path) -> int | None:
    with sqlite3.connect(database) as db:
        found = db.execute("SELECT min(id) FROM alerts WHERE clip_path IS NOT NULL").fetchone()
    return found[0]


def plays(page, video) -> None:
    """The video element plays: its current time moves on (muted, so autoplay rules allow it)."""
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.5 && !v.paused && !v.error", arg=video.element_handle(),
                           timeout=30_000)


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it as root)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_an_operator_acknowledges_an_alert_and_an_admin_draws_a_zone(running_vigil, browser) -> None:
    url, database, config = running_vigil
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)

    page.goto(f"{url}/live")
    assert page.url.startswith(f"{url}/login"), "the live page needs a login"
    page.fill("input[name=name]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/live")

    tile = page.locator("figure[data-camera=lobby]")
    image = tile.locator("img")
    page.wait_for_function("img => img.naturalWidth === 768", arg=image.element_handle(), timeout=30_000)
    first = image.screenshot()
    page.wait_for_function(
        "([img, before]) => { const c = document.createElement('canvas'); c.width = 96; c.height = 72;"
        " c.getContext('2d').drawImage(img, 0, 0, 96, 72); return c.toDataURL() !== before; }",
        arg=[image.element_handle(), page.evaluate(
            "img => { const c = document.createElement('canvas'); c.width = 96; c.height = 72;"
            " c.getContext('2d').drawImage(img, 0, 0, 96, 72); return c.toDataURL(); }", image.element_handle())],
        timeout=30_000,
    )
    assert image.screenshot() != first, "the live tile's picture changes"
    page.wait_for_function("el => el.textContent === 'streaming'", arg=tile.locator("[data-health]").element_handle(),
                           timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "live.png"))

    page.goto(f"{url}/alerts")
    page.locator("td a").first.click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/alerts/\d+$"))
    alert_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("img[alt*=snapshot], .snapshot img, main img").first.is_visible()
    page.fill("textarea[name=note]", "seen on camera, <b>checked</b>")
    page.click("button[value=acknowledged]")
    page.wait_for_load_state()
    page.screenshot(path=str(ARTIFACTS / "alert.png"), full_page=True)

    with sqlite3.connect(database) as db:
        assert db.execute("SELECT status FROM alerts WHERE id = ?", (alert_id,)).fetchone() == ("acknowledged",)
        actor, action, note = db.execute(
            "SELECT actor, action, note FROM alert_actions WHERE alert_id = ? ORDER BY id DESC LIMIT 1", (alert_id,)
        ).fetchone()
    assert (actor, action) == ("olga", "acknowledged")
    assert note == "seen on camera, <b>checked</b>"
    assert page.locator("text=seen on camera, <b>checked</b>").count() >= 1, "the note is shown as text, escaped"

    # An alert's clip is the camera's own video, cut from the recordings: it plays in the browser.
    wait_until(lambda: first_with_clip(database), "an alert with its clip", timeout_s=60)
    page.goto(f"{url}/alerts/{first_with_clip(database)}")
    plays(page, page.locator("video.clip"))
    assert page.locator("figcaption:has-text('it starts on a keyframe')").is_visible()
    page.click("text=Play the recording around this alert")
    page.wait_for_url(re.compile(rf"{re.escape(url)}/cameras/lobby/recordings\?"))
    plays(page, page.locator("video[data-player]"))
    page.screenshot(path=str(ARTIFACTS / "recordings.png"), full_page=True)
    segment = next((config.parent / "recordings").rglob("*.mp4"))
    raw = browser.new_page()
    raw.goto(segment.as_uri())
    plays(raw, raw.locator("video"))  # a segment itself is a fragmented MP4 that plays as it is
    raw.close()

    page.click("button:has-text('Log out')")
    page.goto(f"{url}/zones/lobby")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/zones/lobby")
    frame = page.locator("img[data-frame]")
    page.wait_for_function("img => img.complete && img.naturalWidth === 768", arg=frame.element_handle(),
                           timeout=30_000)
    overlay = page.locator("svg[data-overlay]")
    box = overlay.bounding_box()
    page.select_option("select[name=kind]", "zone")
    for x, y in ((0.6, 0.6), (0.9, 0.6), (0.9, 0.95), (0.6, 0.95)):
        overlay.click(position={"x": x * box["width"], "y": y * box["height"]})
    page.fill("input[name=name]", "bench")
    page.click("button[data-finish]")
    page.click("button[data-save]")
    result = page.locator("[data-result]")
    page.wait_for_function("el => el.textContent.startsWith('Saved')", arg=result.element_handle())
    assert page.locator("[data-list] li[data-shape=bench]").count() == 1
    assert page.locator("[data-shapes-layer] polygon").count() == 2, "walkway and the new bench zone are drawn"
    page.screenshot(path=str(ARTIFACTS / "zones.png"), full_page=True)
    saved = yaml.safe_load(config.read_text())["cameras"]["lobby"]["zones"]
    assert set(saved) == {"walkway", "bench"}
    assert np.allclose(saved["bench"], [(0.6, 0.6), (0.9, 0.6), (0.9, 0.95), (0.6, 0.95)], atol=0.01), saved["bench"]
    assert config.with_name(config.name + ".bak").is_file()

    site = SiteDataset.open_or_create(config.parent / "data" / "datasets", "site", ["person", "fallen_person"])
    with site.importing("test", add_classes=["package"]) as batch:
        for frame in range(2):
            box = LabelBox("package", (40.0, 40.0, 90.0, 80.0))
            batch.add(Sample(np.full((120, 160, 3), 90, np.uint8), [box], "gate", frame, frame / 2, "test"))
    page.goto(f"{url}/models")
    assert page.locator("tr[data-version=base] .badge.live").is_visible(), "the configured model is live"
    assert page.locator("button[data-retrain]").is_visible(), "admins get the retraining form"
    page.screenshot(path=str(ARTIFACTS / "models.png"), full_page=True)

    clip = list(package_scene(ROOT / "data" / "samples" / "vtest.avi", every=5, start_s=0, end_s=3, seed=2))
    write_labelled_clip(clip, config.parent / "yard.mp4", config.parent / "yard.xml", fps=2)
    form = page.locator("form[data-upload]")
    form.locator("input[name=new_dataset]").fill("yard")
    form.locator("select[name=format]").select_option("cvat-video")
    form.locator("input[name=annotations]").set_input_files(str(config.parent / "yard.xml"))
    form.locator("input[name=video]").set_input_files(str(config.parent / "yard.mp4"))
    form.locator("input[name=add_classes]").fill(PACKAGE_CLASS)
    form.locator("input[name=every]").fill("1")
    form.locator("button[data-import]").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/models/imports/[\w-]+$"))
    page.wait_for_selector("[data-import-result], [data-import-error]", timeout=120_000)  # the page refreshes itself
    assert page.locator("[data-import-result] [data-frames]").text_content() == str(len(clip)), page.content()
    assert page.locator(f"tr[data-class={PACKAGE_CLASS}]").is_visible()
    page.screenshot(path=str(ARTIFACTS / "import.png"), full_page=True)
    page.goto(f"{url}/models")
    row = page.locator("table.datasets tr", has=page.locator("label", has_text="yard"))
    assert row.locator("td.num").first.text_content() == str(len(clip)), "the dataset appears with its frames"
    assert f"{PACKAGE_CLASS} " in row.text_content()
    assert violations == [], violations
