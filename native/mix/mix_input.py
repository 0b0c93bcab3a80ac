# One publisher's media coming into the mix: a bin that reads the FIFO the gateway's tap writes, demuxes it, decodes
# H.264 and AAC/Opus, and shapes the picture for its tile, ending in request pads on the compositor and the mixer.
#
#   fdsrc ─► tsdemux ─┬─► queue ─► h264parse ─► avdec_h264 ─► videoconvert ─► videocrop ─► videoscale ─► caps(tile) ─► compositor
#                     └─► queue ─► aacparse|opusparse ─► avdec_aac|opusdec ─► audioconvert ─► audioresample ─► level ─► caps ─► audiomixer
#
# `level` measures the input's loudness as decoded (before the mix's gain), for the volume-layout SEI of a mixed
# relay (SeiParams.LayoutVolume): the compositor keeps each input's latest and reports it with its stats.
#
# Timing (mix_timeline.py): one offset for the input's audio and video, set on the decoded side, maps the
# publisher's timestamps onto the pipeline clock; the aggregators' latency absorbs decoding and arrival jitter.

import os
import re
import threading
import time

from mix_events import guarded
from mix_geometry import crop_for
from mix_timeline import Timeline

HIDDEN_SIZE = (64, 36)        # an input with no tile is still decoded (its tile may come back) but scaled small
NOTHING_DECODED_AFTER_S = 5   # data has been arriving this long and nothing decoded: the input fails
LEVEL_INTERVAL_NS = 200_000_000  # how often `level` reports an input's loudness
QUIET_DB = -60.0              # loudness at or below this is volume 0; 0 dBFS is 100
LEVEL_RMS = re.compile(r'rms=\((?:GValueArray|double)\)[<{]([^>}]*)[>}]')


class Chain:
    """The elements of one stream (video or audio) of an input, and where it meets the mixer."""

    def __init__(self, kind, codec, elements):
        self.kind = kind
        self.codec = codec
        self.elements = elements
        self.head = elements[0]          # the queue the demuxer feeds
        # The capsfilter whose src pad is ghosted out of the bin. It carries the input's time offset: a new offset
        # re-sends the segment, and a decoder that receives one drains and loses its reference frames (grey
        # pictures until the next keyframe), so the offset is applied after the decoders, on raw frames.
        self.tail = elements[-1]
        self.ghost = None
        self.mixer_pad = None
        self.ended = False


class Input:
    def __init__(self, mixer, serial, input_id, path, want_video, want_audio, volume=1.0):
        Gst = self.Gst = mixer.Gst
        self.mixer = mixer
        self.id = input_id
        self.want = {'video': want_video, 'audio': want_audio}
        self.volume = volume             # the audio's gain in the mix (1.0 as it comes, 0.0 silent)
        self.lock = threading.Lock()     # streaming threads (new streams, timing) vs the main loop (layout, removal)
        self.chains = {}
        self.rect = None
        self.in_size = (0, 0)
        # Half the aggregators' latency is the margin kept for decoding: later than that, a frame misses its slot.
        self.timeline = Timeline(mixer.output.latency_ns // 2)
        self.removed = False
        self.streams_seen = 0
        self.bytes_in = 0
        self.first_byte_at = None
        self.frames = {'video': 0, 'audio': 0}
        self.level = 0                   # loudness 0–100 over the last LEVEL_INTERVAL_NS (0: silent or no audio)
        # O_NONBLOCK: the open succeeds before any writer exists (a blocking open would wait for one). Until a
        # writer has come, poll() reports nothing on this end, so fdsrc simply waits; after the last writer goes
        # the read returns 0 and the input ends.
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            self.bin = Gst.Bin.new(f'input{serial}')
            src = Gst.ElementFactory.make('fdsrc', None)
            src.set_property('fd', self.fd)
            src.set_property('blocksize', 65536)
            demux = Gst.ElementFactory.make('tsdemux' if mixer.opts.input_format == 'mpegts' else 'matroskademux', None)
            self.bin.add(src)
            self.bin.add(demux)
            src.link(demux)
            demux.connect('pad-added', self._on_stream)
            src.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._count_bytes)
            mixer.output.pipeline.add(self.bin)
            self.bin.sync_state_with_parent()
        except Exception:
            os.close(self.fd)
            raise

    # ---- streaming threads -----------------------------------------------------------------------------------

    @guarded
    def _count_bytes(self, pad, info):
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        self.bytes_in += info.get_buffer().get_size()
        return self.Gst.PadProbeReturn.OK

    @guarded
    def _on_stream(self, demux, pad):
        Gst = self.Gst
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        name = s.get_name()
        kind = name.split('/')[0] if name.startswith(('video/', 'audio/')) else None
        self.streams_seen += 1
        with self.lock:
            if self.removed or kind is None or not self.want[kind] or kind in self.chains:
                self._discard(pad)
                return
            codec = self._codec(kind, name, s)
            if codec is None:
                self._discard(pad)
                what = name + (f' (MPEG-{s.get_value("mpegversion")})' if s.has_field('mpegversion') else '')
                self.mixer.later(self.mixer.fail_input, self.id,
                                 f'its {kind} is {what}, which is not mixed: the compositor takes H.264 video with AAC or Opus audio')
                return
            chain = self._build(kind, codec)
            self.chains[kind] = chain
            if self.timeline.offset is not None:
                chain.tail.get_static_pad('src').set_offset(self.timeline.offset)
            pad.add_probe(Gst.PadProbeType.BUFFER, self._on_timed_buffer)
            pad.link(chain.head.get_static_pad('sink'))
        self.mixer.later(self.mixer.emit_input_stream, self.id, kind, codec)

    @staticmethod
    def _codec(kind, name, s):
        if kind == 'video':
            return 'h264' if name == 'video/x-h264' else None
        if name == 'audio/x-opus':
            return 'opus'
        if name == 'audio/mpeg' and s.has_field('mpegversion') and s.get_value('mpegversion') in (2, 4):
            return 'aac'
        return None

    def _discard(self, pad):
        sink = self.Gst.ElementFactory.make('fakesink', None)
        sink.set_property('sync', False)
        self.bin.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad('sink'))

    def _build(self, kind, codec):
        Gst = self.Gst
        opts = self.mixer.opts

        def make(factory, **props):
            e = Gst.ElementFactory.make(factory, None)
            for k, v in props.items():
                e.set_property(k.replace('_', '-'), v)
            return e

        # A second of backlog at most: past that the source is far behind anyway, and an input must never hold
        # the demuxer (and with it the FIFO) longer than that.
        queue = make('queue', max_size_buffers=0, max_size_bytes=0, max_size_time=Gst.SECOND)
        if kind == 'video':
            w, h = HIDDEN_SIZE
            # max-errors -1: a publisher's broken frame costs that frame, never the input (avdec's default gives
            # up after 10). One decoding thread each: 4 inputs already keep 2 cores busy, and frame threading
            # would add a frame of delay per thread.
            elements = [queue, make('h264parse'), make('avdec_h264', max_threads=1, max_errors=-1), make('videoconvert'),
                        make('videocrop'), make('videoscale'),
                        make('capsfilter', caps=Gst.Caps.from_string(self._tile_caps(w, h)))]
        else:
            parse, decode = ('aacparse', 'avdec_aac') if codec == 'aac' else ('opusparse', 'opusdec')
            elements = [queue, make(parse), make(decode), make('audioconvert'), make('audioresample'),
                        make('level', interval=LEVEL_INTERVAL_NS, post_messages=True),
                        make('capsfilter', caps=Gst.Caps.from_string(self.mixer.output.raw_audio))]
        chain = Chain(kind, codec, elements)
        for e in elements:
            self.bin.add(e)
        for a, b in zip(elements, elements[1:]):
            a.link(b)
        if kind == 'video':
            chain.crop, chain.scale, chain.caps = elements[4], elements[5], elements[6]
            chain.crop.get_static_pad('sink').add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_picture_caps)
        tail = chain.tail.get_static_pad('src')
        tail.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_decoded, chain)
        chain.ghost = Gst.GhostPad.new(kind, tail)
        chain.ghost.set_active(True)
        self.bin.add_pad(chain.ghost)
        target = self.mixer.output.compositor if kind == 'video' else self.mixer.output.mixer
        chain.mixer_pad = target.request_pad_simple('sink_%u')
        if kind == 'video':
            self._apply_rect(chain)
        else:
            chain.mixer_pad.set_property('volume', self.volume)
        chain.ghost.link(chain.mixer_pad)
        for e in reversed(elements):
            e.sync_state_with_parent()
        return chain

    @guarded
    def _on_timed_buffer(self, pad, info):
        """Maps the source's timeline onto the pipeline's (mix_timeline.py)."""
        Gst = self.Gst
        buf = info.get_buffer()
        ts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts  # dts: arrival order, even with B-frames
        event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        now = self.mixer.output.running_time()
        if ts == Gst.CLOCK_TIME_NONE or event is None or now is None:
            return Gst.PadProbeReturn.OK
        rt = event.parse_segment().to_running_time(Gst.Format.TIME, ts)
        if rt == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK  # outside the segment: the demuxer's own business
        with self.lock:
            offset = self.timeline.arrival(rt, now)
            if offset is not None:
                for chain in self.chains.values():
                    chain.tail.get_static_pad('src').set_offset(offset)
        return Gst.PadProbeReturn.OK

    @guarded
    def _on_picture_caps(self, pad, info):
        event = info.get_event()
        if event.type == self.Gst.EventType.CAPS:
            s = event.parse_caps().get_structure(0)
            ok_w, w = s.get_int('width')
            ok_h, h = s.get_int('height')
            if ok_w and ok_h:
                with self.lock:
                    self.in_size = (w, h)
                    chain = self.chains.get('video')
                    if chain is not None:
                        self._apply_crop(chain)
        return self.Gst.PadProbeReturn.OK

    @guarded
    def _on_decoded(self, pad, info, chain):
        Gst = self.Gst
        if info.type & Gst.PadProbeType.BUFFER:
            self.frames[chain.kind] += 1
        elif info.get_event().type == Gst.EventType.EOS:
            chain.ended = True
            if all(c.ended for c in self.chains.values()):
                self.mixer.later(self.mixer.emit_input_ended, self.id)
        return Gst.PadProbeReturn.OK

    # ---- the main loop ---------------------------------------------------------------------------------------

    def set_rect(self, rect):
        with self.lock:
            self.rect = rect
            chain = self.chains.get('video')
            if chain is not None:
                self._apply_rect(chain)

    def set_volume(self, volume):
        with self.lock:
            self.volume = volume
            chain = self.chains.get('audio')
            if chain is not None:
                chain.mixer_pad.set_property('volume', volume)

    def _tile_caps(self, w, h):
        return f'video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1'

    def _apply_rect(self, chain):
        r = self.rect
        if r is None:
            (w, h), props = HIDDEN_SIZE, {'xpos': 0, 'ypos': 0, 'alpha': 0.0, 'zorder': 1}
        else:
            w, h = r['width'], r['height']
            # TRTC's Alpha counts transparency (0 opaque … 255 invisible); the compositor's counts opacity.
            props = {'xpos': r['x'], 'ypos': r['y'], 'alpha': (255 - r['alpha']) / 255, 'zorder': 1 + r['zOrder']}
        # The pad scales too: frames still on their way at the old size fill the new tile until videoscale's
        # renegotiated ones arrive, so a relayout never shows a wrongly sized picture.
        for k, v in {**props, 'width': w, 'height': h}.items():
            chain.mixer_pad.set_property(k, v)
        caps = self.Gst.Caps.from_string(self._tile_caps(w, h))
        if not chain.caps.get_property('caps').is_equal(caps):
            chain.caps.set_property('caps', caps)
        self._apply_crop(chain)

    def _apply_crop(self, chain):
        r = self.rect
        w, h = (r['width'], r['height']) if r else HIDDEN_SIZE
        left, right, top, bottom, borders = crop_for(r['renderMode'] if r else 0, self.in_size[0], self.in_size[1], w, h)
        for k, v in (('left', left), ('right', right), ('top', top), ('bottom', bottom)):
            if chain.crop.get_property(k) != v:
                chain.crop.set_property(k, v)
        if chain.scale.get_property('add-borders') != borders:
            chain.scale.set_property('add-borders', borders)

    def health(self, now):
        """Why this input has failed (data but nothing decoded), or None."""
        if self.first_byte_at is None or now - self.first_byte_at < NOTHING_DECODED_AFTER_S:
            return None
        if any(self.frames.values()):
            return None
        if self.streams_seen == 0:
            fmt = 'MPEG-TS' if self.mixer.opts.input_format == 'mpegts' else 'Matroska'
            return f'{self.bytes_in} bytes arrived in {NOTHING_DECODED_AFTER_S} s but no {fmt} stream was found in them (not {fmt}, or corrupt)'
        if self.chains:
            kinds = ' and '.join(f'{c.codec}' for c in self.chains.values())
            return f'{self.bytes_in} bytes arrived in {NOTHING_DECODED_AFTER_S} s but no frame of its {kinds} could be decoded'
        return None  # only streams this input was not asked for: nothing to mix, nothing wrong

    def stats(self):
        return {'bytesIn': self.bytes_in, 'videoFrames': self.frames['video'], 'audioFrames': self.frames['audio'],
                'reanchors': self.timeline.moves, 'level': self.level}

    def on_level(self, structure):
        """A `level` message: the loudest channel's RMS in dBFS, as 0 (≤ -60 dB) … 100 (0 dB), linear in dB."""
        # PyGObject cannot read the message's GValueArray fields, but their text form is stable:
        # rms=(GValueArray)< -20.1, -21.3 > (older GStreamer: rms=(double){ … })
        m = LEVEL_RMS.search(structure.to_string())
        try:
            db = max(float(v) for v in m.group(1).split(','))
        except (AttributeError, ValueError):
            return
        self.level = max(0, min(100, round((db - QUIET_DB) * 100 / -QUIET_DB)))

    def teardown(self):
        """Leaves the mix: the mixer's pads go first (that wakes a streaming thread waiting in them), then the bin."""
        with self.lock:
            self.removed = True
            chains = list(self.chains.values())
        for chain in chains:
            target = chain.mixer_pad.get_parent_element()
            chain.ghost.unlink(chain.mixer_pad)
            target.release_request_pad(chain.mixer_pad)
        self.bin.set_state(self.Gst.State.NULL)
        self.mixer.output.pipeline.remove(self.bin)
        os.close(self.fd)
