# Where an input's media goes on the output's timeline. A publisher's timestamps are on its own clock; the output
# runs on the pipeline clock. The offset added to the input's running times (a GStreamer pad offset) is chosen so
# that a buffer is due about when it arrives:
#
# - the first buffer is mapped to now;
# - a buffer too late for its slot (the source restarted, its timestamps jumped back, its clock runs slower than
#   ours, a stall) or far too early (its timestamps jumped forward) maps the input to now again;
# - early buffers are held until they are due, so when even the latest arrival of a whole window was early (the
#   first buffer was held up while the decoders were set up, or the source's clock runs fast) the mapping moves
#   closer by that much: an input is never shown later than its latest arrivals need.
#
# Each move makes that input skip or repeat a moment; the output's own timeline never moves. Pure arithmetic on
# nanoseconds, no GStreamer.

SECOND = 1_000_000_000
EARLY_LIMIT = 1 * SECOND        # mapped this far ahead of now: the source's timestamps jumped forward
TRIM_WINDOW = 2 * SECOND        # how long every arrival must have been early before the mapping moves closer
TRIM_SLACK = 40_000_000         # early by less than this is jitter, not worth a skip


class Timeline:
    def __init__(self, late_limit):
        """late_limit: how late (ns) a buffer may arrive and still be shown (a share of the aggregators' latency)."""
        self.late_limit = late_limit
        self.offset = None
        self.moves = 0
        self._window_start = 0
        self._window_latest = -EARLY_LIMIT

    def arrival(self, running_time, now):
        """A buffer of the input's running time arrived at `now`: the new offset if the mapping moves, else None."""
        if self.offset is None:
            return self._move(now - running_time, now, count=False)
        lateness = now - (running_time + self.offset)
        if lateness > self.late_limit or lateness < -EARLY_LIMIT:
            return self._move(now - running_time, now)
        self._window_latest = max(self._window_latest, lateness)
        if now - self._window_start < TRIM_WINDOW:
            return None
        if self._window_latest < -TRIM_SLACK:
            return self._move(self.offset + self._window_latest, now)
        self._window_start, self._window_latest = now, -EARLY_LIMIT
        return None

    def _move(self, offset, now, count=True):
        self.offset = offset
        self.moves += count
        self._window_start, self._window_latest = now, -EARLY_LIMIT
        return offset
