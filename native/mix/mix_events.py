# Events for the parent, one JSON object per line on fd 3. stdout carries the FLV output and stderr is left to
# GStreamer's and Python's own diagnostics, so the parent can parse fd 3 without filtering. Run by hand (no fd 3),
# the events go to stderr.

import json
import os
import sys
import threading

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
