# The fixed half of the compositor's pipeline: the canvas and the mix, their encoders and the FLV on stdout.
#
#   videotestsrc (live, solid background) ─► compositor ─► I420 W×H@fps ─► queue ─► x264enc ─► h264parse ─┐
#   audiotestsrc (live, silence) ──────────► audiomixer ─► F32 rate×ch ──► queue ─► avenc_aac ─► aacparse ─┴► flvmux ─► fdsink fd=1
#
# The two live test sources are what keep the output going in real time: the aggregators produce a frame (a 10 ms
# audio buffer) each time the clock reaches its deadline, whether or not any input has data, so there is output
# with no input, with a stalled input and across inputs coming and going. Inputs (mix_input.py) add request pads
# to the compositor and the mixer while this runs.

from mix_events import guarded


class Output:
    def __init__(self, Gst, opts):
        self.Gst = Gst
        self.opts = opts
        self.frames_out = 0
        self.audio_frames_out = 0
        self.bytes_out = 0
        p = self.pipeline = Gst.Pipeline.new('mix')
        self.latency_ns = int(opts.latency_ms) * Gst.MSECOND

        def make(factory, **props):
            e = Gst.ElementFactory.make(factory, None)
            for k, v in props.items():
                e.set_property(k.replace('_', '-'), v)
            p.add(e)
            return e

        w, h, fps = opts.width, opts.height, opts.fps
        raw_video = f'video/x-raw,format=I420,width={w},height={h},framerate={fps}/1,pixel-aspect-ratio=1/1'
        self.raw_audio = f'audio/x-raw,format=F32LE,layout=interleaved,rate={opts.sample_rate},channels={opts.channels}'

        self.background = make('videotestsrc', is_live=True, pattern='solid-color', foreground_color=opts.background)
        bg_caps = make('capsfilter', caps=Gst.Caps.from_string(raw_video))
        self.compositor = make('compositor', latency=self.latency_ns, background='black')
        canvas_caps = make('capsfilter', caps=Gst.Caps.from_string(raw_video))
        video_queue = make('queue', max_size_buffers=8, max_size_bytes=0, max_size_time=0)
        # zerolatency: no lookahead and no B-frames, so a frame leaves the encoder as soon as it is encoded (the
        # end-to-end delay) and FLV players that mishandle composition offsets are not involved.
        encoder = make('x264enc', tune='zerolatency', speed_preset=opts.preset, bitrate=max(1, opts.video_bitrate // 1000),
                       key_int_max=max(1, opts.fps * opts.gop), bframes=0)
        video_parse = make('h264parse')
        video_caps = make('capsfilter', caps=Gst.Caps.from_string('video/x-h264,stream-format=avc,alignment=au'))

        self.silence = silence = make('audiotestsrc', is_live=True, wave='silence', samplesperbuffer=max(1, opts.sample_rate // 100))
        silence_caps = make('capsfilter', caps=Gst.Caps.from_string(self.raw_audio))
        self.mixer = make('audiomixer', latency=self.latency_ns)
        mix_caps = make('capsfilter', caps=Gst.Caps.from_string(self.raw_audio))
        audio_queue = make('queue', max_size_buffers=0, max_size_bytes=0, max_size_time=Gst.SECOND)
        audio_encoder = make('avenc_aac', bitrate=opts.audio_bitrate)
        audio_parse = make('aacparse')

        # streamable: no seek back to patch the header; the reader is a pipe.
        mux = make('flvmux', streamable=True)
        # sync=false: the live sources already pace the pipeline; the sink writes each tag as soon as it exists.
        sink = make('fdsink', fd=1, sync=False)

        self._link(self.background, bg_caps)
        bg_pad = self.compositor.request_pad_simple('sink_%u')
        for k, v in (('xpos', 0), ('ypos', 0), ('width', w), ('height', h), ('zorder', 0)):
            bg_pad.set_property(k, v)
        bg_caps.get_static_pad('src').link(bg_pad)
        self._link(self.compositor, canvas_caps, video_queue, encoder, video_parse, video_caps)
        video_caps.get_static_pad('src').link(mux.request_pad_simple('video'))

        self._link(silence, silence_caps)
        silence_caps.get_static_pad('src').link(self.mixer.request_pad_simple('sink_%u'))
        self._link(self.mixer, mix_caps, audio_queue, audio_encoder, audio_parse)
        audio_parse.get_static_pad('src').link(mux.request_pad_simple('audio'))
        self._link(mux, sink)

        # h264parse and aacparse re-announce their measured bitrate as tags every few frames, and flvmux writes a
        # fresh onMetaData tag for each: hundreds of bytes many times a second, and nothing a player needs.
        for pad in (video_caps.get_static_pad('src'), audio_parse.get_static_pad('src')):
            pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._drop_tags)
        video_parse.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._count_video)
        audio_parse.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._count_audio)
        sink.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, self._count_bytes)

    def _link(self, *elements):
        for a, b in zip(elements, elements[1:]):
            if not a.link(b):
                raise RuntimeError(f'cannot link {a.get_factory().get_name()} to {b.get_factory().get_name()}')

    @guarded
    def _drop_tags(self, pad, info):
        if info.get_event().type == self.Gst.EventType.TAG:
            return self.Gst.PadProbeReturn.DROP
        return self.Gst.PadProbeReturn.OK

    @guarded
    def _count_video(self, pad, info):
        self.frames_out += 1
        return self.Gst.PadProbeReturn.OK

    @guarded
    def _count_audio(self, pad, info):
        self.audio_frames_out += 1
        return self.Gst.PadProbeReturn.OK

    @guarded
    def _count_bytes(self, pad, info):
        self.bytes_out += info.get_buffer().get_size()
        return self.Gst.PadProbeReturn.OK

    def running_time(self):
        """Now on the pipeline's clock, as a running time (what buffer timestamps are compared with)."""
        clock = self.pipeline.get_clock()
        if clock is None:
            return None
        return clock.get_time() - self.pipeline.get_base_time()

    def set_background(self, argb):
        self.background.set_property('foreground-color', argb)

    def end(self):
        """EOS from both live sources: the aggregators finish once every input is gone, then the muxer and the sink."""
        for src in (self.background, self.silence):
            src.send_event(self.Gst.Event.new_eos())
