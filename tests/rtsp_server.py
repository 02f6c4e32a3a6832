"""A tiny GStreamer RTSP server that streams a video file as H.264 on 127.0.0.1; prints READY <url> once listening.

With `--sub-path` and `--sub-width` it also serves the same video scaled to that width (aspect kept), as a
camera's low-resolution sub-stream; READY then names the main URL.
"""

import argparse
import sys

DEBIAN_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad "
    "gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--video", required=True)
    parser.add_argument("--sub-path")
    parser.add_argument("--sub-width", type=int)
    args = parser.parse_args()

    # Imported here, not at the top: pytest's --doctest-modules imports this file with the venv's python.
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as error:
        sys.exit(f"cannot load GStreamer's RTSP server ({error}); install: apt-get install {DEBIAN_PACKAGES}")

    Gst.init(None)
    elements = ("filesrc", "decodebin", "videoconvert", "videoscale", "x264enc", "rtph264pay")
    missing = [name for name in elements if not Gst.ElementFactory.find(name)]
    if missing:
        sys.exit(f"missing GStreamer elements {missing}; install: apt-get install {DEBIAN_PACKAGES}")

    def factory(scale: str = "") -> GstRtspServer.RTSPMediaFactory:
        media = GstRtspServer.RTSPMediaFactory()
        media.set_launch(
            f'( filesrc location="{args.video}" ! decodebin ! videoconvert {scale}'
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        media.set_shared(True)
        return media

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.path, factory())
    if args.sub_path:
        # Width only: videoscale picks the height that keeps the display aspect ratio.
        scale = f"! videoscale ! video/x-raw,width={args.sub_width},pixel-aspect-ratio=1/1 "
        server.get_mount_points().add_factory(args.sub_path, factory(scale))
    if not server.attach(None):
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print(f"READY rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
