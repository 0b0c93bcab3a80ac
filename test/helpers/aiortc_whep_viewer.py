#!/usr/bin/python3
"""A WHEP viewer on Debian's aiortc that decodes what it receives (aiortc's H.264 and Opus decoders, via PyAV).

Run with /usr/bin/python3 (python3-aiortc is a Debian package; a pyenv python3 on PATH does not have it):

    /usr/bin/python3 test/helpers/aiortc_whep_viewer.py --url 'http://127.0.0.1:8080/v2/sub/APP/ROOM?SessionID=v' \
        --token USERSIG [--seconds 8]

Non-trickle: aiortc gathers its candidates before the offer is sent. After --seconds it prints one JSON line

    {"frames", "width", "height", "audio_frames", "audio_rms", "first_frame_ms", ...}

(audio_rms: RMS of the decoded samples scaled to [-1, 1]; first_frame_ms: POST → first decoded video frame), then
sends DELETE and exits 0. An HTTP error exits 2 with the status and the server's reason on stderr; anything else
that goes wrong exits 1.
"""

import argparse
import asyncio
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


class HttpError(Exception):
    def __init__(self, method, status, reason):
        super().__init__(f"{method} answered HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


# No proxy for the gateway (an http_proxy in the environment must not catch 127.0.0.1).
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(method, url, token, body=None, content_type=None, timeout=10):
    """One blocking request; returns (status, headers, body text). Raises HttpError for 4xx/5xx."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _opener.open(req, timeout=timeout) as res:
            return res.status, res.headers, res.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        reason = e.read().decode("utf-8", "replace").strip() or e.reason
        raise HttpError(method, e.code, reason) from None


async def http(method, url, token, **kw):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: _http(method, url, token, **kw))


def use_host_addresses(addresses):
    """aioice never gathers loopback; in a network namespace with only `lo` it would offer no candidate at all."""
    if addresses:
        aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: list(addresses)


class Counters:
    def __init__(self):
        self.frames = 0
        self.width = 0
        self.height = 0
        self.first_frame_at = None
        self.audio_frames = 0
        self.audio_samples = 0
        self.audio_sum_squares = 0.0


async def consume_video(track, c):
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if c.first_frame_at is None:
            c.first_frame_at = time.monotonic()
        c.frames += 1
        c.width, c.height = frame.width, frame.height


async def consume_audio(track, c):
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        c.audio_frames += 1
        samples = frame.to_ndarray().astype("float64")
        if frame.format.name in ("s16", "s16p"):
            samples /= 32768.0
        elif frame.format.name in ("s32", "s32p"):
            samples /= 2147483648.0
        c.audio_samples += samples.size
        c.audio_sum_squares += float((samples * samples).sum())


async def main(args):
    use_host_addresses(args.host_address)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # None would mean Google's public STUN server
    c = Counters()
    tasks = []

    @pc.on("track")
    def on_track(track):
        consume = consume_video if track.kind == "video" else consume_audio
        tasks.append(asyncio.ensure_future(consume(track, c)))

    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    resource = None
    try:
        await pc.setLocalDescription(await pc.createOffer())  # returns once gathering is complete
        posted_at = time.monotonic()
        status, headers, answer = await http(
            "POST", args.url, args.token, body=pc.localDescription.sdp, content_type="application/sdp"
        )
        if status != 201:
            raise HttpError("POST", status, answer.strip())
        location = headers.get("Location")
        if location:
            resource = urllib.parse.urljoin(args.url, location)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.sleep(args.seconds)
        ended_at = time.monotonic()

        rms = math.sqrt(c.audio_sum_squares / c.audio_samples) if c.audio_samples else 0.0
        first = None if c.first_frame_at is None else round((c.first_frame_at - posted_at) * 1000, 1)
        receiving = 0.0 if c.first_frame_at is None else round(ended_at - c.first_frame_at, 3)
        print(
            json.dumps(
                {
                    "frames": c.frames,
                    "width": c.width,
                    "height": c.height,
                    "audio_frames": c.audio_frames,
                    "audio_rms": round(rms, 5),
                    "first_frame_ms": first,
                    "receiving_s": receiving,
                    "connection_state": pc.connectionState,
                }
            ),
            flush=True,
        )
        if resource:
            await http("DELETE", resource, args.token)
            resource = None
    finally:
        if resource:  # an error after the POST: still end the session, quietly
            try:
                await http("DELETE", resource, args.token, timeout=3)
            except Exception:
                pass
        for t in tasks:
            t.cancel()
        try:
            await asyncio.wait_for(pc.close(), 5)
        except Exception:
            pass


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="WHEP viewer on aiortc that decodes video and audio")
    p.add_argument("--url", required=True, help="WHEP endpoint, e.g. http://127.0.0.1:8080/v2/sub/APP/ROOM?SessionID=v")
    p.add_argument("--token", default="", help="bearer: the UserSig of SessionID (or a room JWT)")
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument(
        "--host-address",
        action="append",
        default=None,
        help="address to gather ICE host candidates on (repeatable; default 127.0.0.1 when the URL is loopback)",
    )
    a = p.parse_args()
    if a.host_address is None:
        host = urllib.parse.urlsplit(a.url).hostname or ""
        a.host_address = ["127.0.0.1"] if host in ("127.0.0.1", "localhost") else []
    try:
        asyncio.run(main(a))
    except HttpError as e:
        print(f"aiortc_whep_viewer: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - one line for the test log instead of a traceback
        print(f"aiortc_whep_viewer: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
