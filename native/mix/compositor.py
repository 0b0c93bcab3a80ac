#!/usr/bin/env python3
# roomgate's compositor for mixed recording and mixed relay: every input's picture in its tile of one canvas, all
# audio mixed, H.264 + AAC in FLV on stdout, in real time. GStreamer does the media work (decode, scale, composite,
# mix, encode, mux); this file runs it and takes orders.
#
#   stdin   JSON lines: {"op":"add","id","path","audio","video","volume"?} | {"op":"remove","id"}
#           | {"op":"layout","rects":[{"id","x","y","width","height","zOrder","alpha","renderMode"}…],"background":"#RRGGBB"}
#           | {"op":"volume","id","volume"} (an input's audio gain: 1 as it comes, 0 silent; up to 10)
#           | {"op":"stop"}  (end of stdin or SIGTERM: the same as stop)
#   stdout  FLV
#   fd 3    JSON-line events (mix_events.py): ready, input-added, input-stream, input-ended, input-removed,
#           input-failed, stats, error (a refused order), fatal (then the process exits)
#   exit    0 after stop, 1 a fatal error at run time, 2 bad arguments, 3 a missing package (named in the fatal event)
#
# GStreamer is used, not ffmpeg, because its compositor and mixer take inputs added and removed while they run,
# and tile geometry changed live; an ffmpeg filtergraph is fixed once started.

import json
import os
import re
import signal
import sys
import time

from mix_events import emit, guarded, log
from mix_geometry import parse_colour
from mix_orders import parse_args, parse_rects
from mix_requirements import import_gst, missing_element

INPUT_BIN = re.compile(r'^input\d+$')


class Mixer:
    def __init__(self, Gst, GLib, opts):
        from mix_input import Input
        from mix_output import Output
        self.Gst, self.GLib, self.opts, self.Input = Gst, GLib, opts, Input
        self.output = Output(Gst, opts)
        self.inputs = {}
        self.serial = 0
        self.rects = {}
        self.stopping = False
        self.exit_code = 0
        self.started_at = None
        self.last_stats = (None, 0)
        self.pending = b''
        self.loop = GLib.MainLoop()
        bus = self.output.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect('message', self.on_message)
        GLib.io_add_watch(0, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, self.on_stdin)
        GLib.timeout_add(opts.stats_interval_ms, self.on_stats)
        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self.on_signal)

    def run(self):
        if self.output.pipeline.set_state(self.Gst.State.PLAYING) == self.Gst.StateChangeReturn.FAILURE:
            self.fatal('the output pipeline would not start (see the log above)')
        else:
            self.loop.run()
        return self.exit_code

    def later(self, fn, *args):
        """Runs fn on the main loop: streaming threads report there instead of changing the pipeline themselves."""
        self.GLib.idle_add(lambda: fn(*args) and False)

    # ---- orders ----------------------------------------------------------------------------------------------

    @guarded
    def on_stdin(self, fd, condition):
        data = os.read(0, 65536) if condition & self.GLib.IO_IN else b''
        if not data:
            self.stop()  # the parent closed our stdin (or died): finish the output cleanly
            return False
        self.pending += data
        *lines, self.pending = self.pending.split(b'\n')
        for line in lines:
            if line.strip():
                self.handle(line)
        return True

    def handle(self, line):
        try:
            order = json.loads(line)
        except ValueError:
            return emit('error', message=f'a control line is not JSON: {line[:80]!r}')
        op = order.get('op') if isinstance(order, dict) else None
        handler = {'add': self.add, 'remove': self.remove, 'layout': self.layout, 'volume': self.volume,
                   'stop': lambda _: self.stop()}.get(op)
        if handler is None:
            return emit('error', message=f'unknown op {op!r}: expected add, remove, layout, volume or stop')
        if self.stopping and op != 'stop':
            return emit('error', op=op, id=order.get('id'), message='the compositor is stopping')
        handler(order)

    def add(self, order):
        input_id, path = order.get('id'), order.get('path')
        video, audio = order.get('video', True), order.get('audio', True)
        if not isinstance(input_id, str) or not input_id:
            return emit('error', op='add', message='add needs a non-empty "id" string')
        if not isinstance(path, str) or not isinstance(video, bool) or not isinstance(audio, bool):
            return emit('input-failed', id=input_id, reason='add needs a "path" string; "audio" and "video" are true or false')
        volume = order.get('volume', 1.0)
        if not valid_volume(volume):
            return emit('input-failed', id=input_id, reason=f'"volume" must be a number from 0 to 10, not {volume!r}')
        if input_id in self.inputs:
            return emit('input-failed', id=input_id, reason='an input with this id is already in the mix')
        self.serial += 1
        try:
            inp = self.Input(self, self.serial, input_id, path, video, audio, float(volume))
        except OSError as e:
            return emit('input-failed', id=input_id, reason=f'cannot open {path} for reading: {e.strerror}')
        self.inputs[input_id] = inp
        inp.set_rect(self.rects.get(input_id))
        emit('input-added', id=input_id)

    def remove(self, order):
        inp = self.inputs.pop(order.get('id'), None)
        if inp is None:
            return emit('error', op='remove', id=order.get('id'), message='no input with this id is in the mix')
        inp.teardown()
        emit('input-removed', id=inp.id)

    def volume(self, order):
        inp, volume = self.inputs.get(order.get('id')), order.get('volume')
        if inp is None:
            return emit('error', op='volume', id=order.get('id'), message='no input with this id is in the mix')
        if not valid_volume(volume):
            return emit('error', op='volume', id=inp.id, message=f'"volume" must be a number from 0 to 10, not {volume!r}')
        inp.set_volume(float(volume))

    def layout(self, order):
        rects, problem = parse_rects(order.get('rects'))
        background = parse_colour(order.get('background', '#000000'))
        if problem is None and background is None:
            problem = f'background {order.get("background")!r} is not #RRGGBB'
        if problem:
            return emit('error', op='layout', message=f'layout refused: {problem}')
        self.rects = rects
        self.output.set_background(background)
        for input_id, inp in self.inputs.items():
            inp.set_rect(rects.get(input_id))

    def stop(self):
        if self.stopping:
            return
        self.stopping = True
        for input_id in list(self.inputs):
            self.inputs.pop(input_id).teardown()
            emit('input-removed', id=input_id)
        self.output.end()
        self.GLib.timeout_add_seconds(10, lambda: self.fatal('the output did not finish within 10 s of stop'))

    @guarded
    def on_signal(self):
        self.stop()
        return True

    # ---- what the pipeline says ------------------------------------------------------------------------------

    @guarded
    def fail_input(self, input_id, reason):
        inp = self.inputs.pop(input_id, None)
        if inp is not None:
            inp.teardown()
            emit('input-failed', id=input_id, reason=reason)

    @guarded
    def emit_input_stream(self, input_id, kind, codec):
        if input_id in self.inputs:
            emit('input-stream', id=input_id, kind=kind, codec=codec)

    @guarded
    def emit_input_ended(self, input_id):
        if input_id in self.inputs:
            emit('input-ended', id=input_id)

    def input_of(self, obj):
        """The input whose bin holds obj; 'gone' for a bin already torn down; None for the output's elements."""
        while obj is not None:
            if isinstance(obj, self.Gst.Bin) and INPUT_BIN.match(obj.get_name()):
                return next((i for i in self.inputs.values() if i.bin is obj), 'gone')
            obj = obj.get_parent()
        return None

    @guarded
    def on_message(self, bus, msg):
        Gst = self.Gst
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            owner = self.input_of(msg.src)
            if owner == 'gone':
                pass  # an input's last words while it was being removed (not-linked, flushing)
            elif owner is not None:
                self.fail_input(owner.id, f'{err.message} ({msg.src.get_name()})')
            else:
                self.fatal(f'{err.message} ({msg.src.get_name()}: {debug})')
        elif msg.type == Gst.MessageType.ELEMENT and msg.get_structure() and msg.get_structure().get_name() == 'level':
            owner = self.input_of(msg.src)
            if owner not in (None, 'gone'):
                owner.on_level(msg.get_structure())
        elif msg.type == Gst.MessageType.WARNING:
            err, debug = msg.parse_warning()
            log(f'warning from {msg.src.get_name()}: {err.message}')
        elif msg.type == Gst.MessageType.EOS:
            if self.stopping:
                self.quit(0)
            else:
                self.fatal('the output ended although no stop was ordered')
        elif msg.type == Gst.MessageType.STATE_CHANGED and msg.src is self.output.pipeline:
            old, new, _ = msg.parse_state_changed()
            if new == Gst.State.PLAYING and self.started_at is None:
                self.started_at = time.monotonic()
                o = self.opts
                emit('ready', pid=os.getpid(), width=o.width, height=o.height, fps=o.fps, sampleRate=o.sample_rate,
                     channels=o.channels, inputFormat=o.input_format, latencyMs=o.latency_ms, preset=o.preset)

    @guarded
    def on_stats(self):
        if self.started_at is None or self.stopping:
            return not self.stopping
        now = time.monotonic()
        for input_id, inp in list(self.inputs.items()):
            reason = inp.health(now)
            if reason:
                self.fail_input(input_id, reason)
        out = self.output
        elapsed = now - self.started_at
        prev_t, prev_frames = self.last_stats
        window = (out.frames_out - prev_frames) / ((now - prev_t) * self.opts.fps) if prev_t else None
        self.last_stats = (now, out.frames_out)
        emit('stats', seconds=round(elapsed, 3), framesOut=out.frames_out, audioFramesOut=out.audio_frames_out,
             bytesOut=out.bytes_out, speed=round(out.frames_out / (elapsed * self.opts.fps), 4) if elapsed > 0 else 0,
             windowSpeed=round(window, 4) if window is not None else None,
             inputs={i: inp.stats() for i, inp in self.inputs.items()})
        return True

    def fatal(self, message):
        emit('fatal', message=message)
        self.quit(1)
        return False

    def quit(self, code):
        self.exit_code = code
        self.output.pipeline.set_state(self.Gst.State.NULL)
        self.loop.quit()


def valid_volume(v):
    """audiomixer's pad volume: 0 (silent) … 1 (as it comes) … 10."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10


def main():
    opts = parse_args(sys.argv[1:])
    gst, problem = import_gst()
    if problem is None:
        problem = missing_element(gst[0])
    if problem is not None:
        message, package = problem
        emit('fatal', message=f'{message}: install the Debian package {package}', package=package)
        return 3
    try:
        mixer = Mixer(*gst, opts)
    except Exception as e:  # a pipeline this GStreamer cannot build: say so as an event, not only a traceback
        emit('fatal', message=f'cannot build the pipeline: {e}')
        raise
    return mixer.run()


if __name__ == '__main__':
    sys.exit(main())
