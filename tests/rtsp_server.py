"""A tiny GStreamer RTSP server that streams a video file as H.264 on 127.0.0.1; prints READY <url> once listening.

With `--sub-path` and `--sub-width` it also serves the same video scaled to that width (aspect kept), as a
camera's low-resolution sub-stream; READY then names the main URL.

With `--passthrough` an H.264 MP4 is sent as it is, without decoding or encoding (a camera's own stream at almost
no CPU), and each client gets its own pass of the file from the start. With `--mounts K` the video is served at
PATH0 … PATH{K-1}, each mount its own stream; READY then names PATH0.
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
    parser.add_argument("--passthrough", action="store_true", help="send the MP4's H.264 as it is, no re-encode")
    parser.add_argument("--mounts", type=int, help="serve PATH0 … PATH{K-1} instead of PATH")
    args = parser.parse_args()
    if args.passthrough and args.sub_path:
        parser.error("a sub-stream is scaled, so it cannot be passed through")

    # Imported here, not at the top: pytest's --doctest-modules imports this file with the venv's python.
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as error:
        sys.exit(f"cannot load GStreamer's RTSP server ({error}); install: apt-get install {DEBIAN_PACKAGES}")

    Gst.init(None)
    if args.passthrough:
        elements = ("filesrc", "qtdemux", "h264parse", "rtph264pay")
    else:
        elements = ("filesrc", "decodebin", "videoconvert", "videoscale", "x264enc", "rtph264pay")
    missing = [name for name in elements if not Gst.ElementFactory.find(name)]
    if missing:
        sys.exit(f"missing GStreamer elements {missing}; install: apt-get install {DEBIAN_PACKAGES}")

    def factory(scale: str = "") -> GstRtspServer.RTSPMediaFactory:
        if args.passthrough:
            video = f'filesrc location="{args.video}" ! qtdemux ! h264parse '
        else:
            video = (
                f'filesrc location="{args.video}" ! decodebin ! videoconvert {scale}'
                "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
            )
        media = GstRtspServer.RTSPMediaFactory()
        media.set_launch(f"( {video}! rtph264pay name=pay0 pt=96 config-interval=1 )")
        # Shared, an encode serves every client; passed through, each client gets its own pass of the file.
        media.set_shared(not args.passthrough)
        return media

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    paths = [f"{args.path}{i}" for i in range(args.mounts)] if args.mounts else [args.path]
    for path in paths:
        server.get_mount_points().add_factory(path, factory())
    if args.sub_path:
        # Width only: videoscale picks the height that keeps the display aspect ratio.
        scale = f"! videoscale ! video/x-raw,width={args.sub_width},pixel-aspect-ratio=1/1 "
        server.get_mount_points().add_factory(args.sub_path, factory(scale))
    if not server.attach(None):
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print(f"READY rtsp://127.0.0.1:{args.port}{paths[0]}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
