# Events for the parent, one JSON object per line on fd 3. stdout carries the FLV output and stderr is left to
# GStreamer's and Python's own diagnostics, so the parent can parse fd 3 without filtering. Run by hand (no fd 3),
# the events go to stderr.

import functools
import json
import os
import sys
import threading
import traceback

_lock = threading.Lock()  # streaming threads and the main loop both emit: one line must never interleave another
_out = None


def _stream():
    global _out
    if _out is None:
        try:
            os.fstat(3)
            _out = os.fdopen(3, 'w', buffering=1)
        except OSError:
            _out = sys.stderr
    return _out


def emit(event, **fields):
    line = json.dumps({'event': event, **fields}, separators=(',', ':'))
    with _lock:
        try:
            _stream().write(line + '\n')
        except (BrokenPipeError, ValueError):
            pass  # the parent is gone; stdin's end will stop us


def log(message):
    """A line for whoever reads stderr (the parent keeps the tail for its error messages)."""
    with _lock:
        sys.stderr.write(f'[compositor] {message}\n')
        sys.stderr.flush()


def guarded(fn):
    """For what GStreamer and GLib call back (probes, signals, watches). PyGObject would only print an exception and
    carry on, and a probe that raises simply stops doing its job (an input never mapped to the clock, a stat never
    counted): a bug there ends the process, saying where, instead of degrading the output unseen."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            log(traceback.format_exc())
            emit('fatal', message=f'internal error in {fn.__qualname__}: {type(e).__name__}: {e}')
            os._exit(1)
    return run
