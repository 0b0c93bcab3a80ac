# What the compositor is told: its start-up options (the canvas and the encoders) and the tiles of a layout order,
# checked here so that a bad value is a sentence for the parent, never a GStreamer error later.

import argparse
import sys

from mix_events import emit
from mix_geometry import parse_colour


def parse_args(argv):
    p = argparse.ArgumentParser(description='roomgate compositor: inputs on stdin orders, FLV on stdout')
    p.add_argument('--width', type=int, default=360)
    p.add_argument('--height', type=int, default=640)
    p.add_argument('--fps', type=int, default=15)
    p.add_argument('--video-bitrate', type=int, default=550000, help='bits per second')
    p.add_argument('--gop', type=int, default=10, help='seconds between keyframes')
    p.add_argument('--background', default='#000000')
    p.add_argument('--sample-rate', type=int, default=48000, choices=(48000, 44100, 16000))
    p.add_argument('--channels', type=int, default=2, choices=(1, 2))
    p.add_argument('--audio-bitrate', type=int, default=64000, help='bits per second')
    p.add_argument('--input-format', default='mpegts', choices=('mpegts', 'matroska'))
    p.add_argument('--latency-ms', type=int, default=300, help="how late an input's frame may be and still make its slot")
    p.add_argument('--preset', default='superfast', help="x264's speed preset")
    p.add_argument('--stats-interval-ms', type=int, default=1000)
    opts = p.parse_args(argv)
    problems = []
    if not (16 <= opts.width <= 1920 and 16 <= opts.height <= 1920) or opts.width % 2 or opts.height % 2:
        problems.append(f'the canvas {opts.width}x{opts.height} must be even numbers from 16 to 1920 (H.264 4:2:0)')
    if not 1 <= opts.fps <= 60:
        problems.append(f'fps {opts.fps} is outside 1..60')
    if opts.video_bitrate < 1000 or opts.audio_bitrate < 8000 or opts.gop < 1 or opts.latency_ms < 0:
        problems.append('bitrates, GOP and latency must be positive (bitrates in bits per second)')
    background = parse_colour(opts.background)
    if background is None:
        problems.append(f'background {opts.background!r} is not #RRGGBB')
    opts.background = background
    if problems:
        emit('fatal', message='; '.join(problems))
        sys.exit(2)
    return opts


def parse_rects(raw):
    """{id: rect} from the layout order's rects, or (None, why)."""
    if not isinstance(raw, list):
        return None, '"rects" must be a list'
    rects = {}
    for n, r in enumerate(raw):
        if not isinstance(r, dict):
            return None, f'rect {n} is not an object'
        if r.get('id') is None:
            continue  # a slot nobody fills: the background shows
        if not isinstance(r['id'], str):
            return None, f'rect {n}: "id" must be a string or null'
        vals = {}
        for key, lo, hi, default in (('x', 0, 4096, None), ('y', 0, 4096, None), ('width', 1, 4096, None),
                                     ('height', 1, 4096, None), ('zOrder', 0, 255, 0), ('alpha', 0, 255, 0),
                                     ('renderMode', 0, 3, 1)):
            v = r.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                return None, f'rect {n} ({r["id"]}): "{key}" must be a number from {lo} to {hi}, not {v!r}'
            vals[key] = int(round(v))
        rects.setdefault(r['id'], vals)  # one tile per input: the first rect naming it wins
    return rects, None
