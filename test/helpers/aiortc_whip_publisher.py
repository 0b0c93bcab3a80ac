#!/usr/bin/python3
"""A WHIP publisher on Debian's aiortc (an independent WebRTC stack): H.264 test pattern + Opus tone, non-trickle
(aiortc puts its candidates in the offer). Prints one JSON line with the HTTP result, publishes for --seconds,
then DELETEs the resource. Run with /usr/bin/python3 (Debian's), not a pyenv python."""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription, RTCRtpSender
from aiortc.contrib.media import MediaPlayer

# aioice never gathers loopback addresses; the tests run in a network namespace that has nothing else, so gather
# on 127.0.0.1 explicitly (what werift's iceAdditionalHostAddresses does).
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]
# The gateway is on loopback: no proxy from the environment may catch it.
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))


def http(method, url, token, body=None):
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if body:
        req.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers.get("Location")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()

    video = MediaPlayer("testsrc=size=320x240:rate=30", format="lavfi")
    audio = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
    pc = RTCPeerConnection()
    vt = pc.addTransceiver(video.video, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/h264"]
    vt.setCodecPreferences(h264)
    pc.addTransceiver(audio.audio, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before this returns: non-trickle

    loop = asyncio.get_running_loop()
    status, body, location = await loop.run_in_executor(None, http, "POST", a.url, a.token, pc.localDescription.sdp)
    print(json.dumps({"status": status, "location": location, "body": body if status != 201 else ""}), flush=True)
    if status != 201:
        await pc.close()
        sys.exit(1)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    await asyncio.sleep(a.seconds)
    base = a.url.split("/v2/")[0]
    await loop.run_in_executor(None, http, "DELETE", base + location, a.token)
    await pc.close()


asyncio.run(main())
