# What the compositor needs from the machine, checked before anything is built, so that a missing piece is one
# sentence naming the Debian package to install instead of a pipeline that fails later on some input.

# Element → the Debian package (bookworm) that ships it.
ELEMENTS = {
    'fdsrc': 'libgstreamer1.0-0',  # the core elements
    'fdsink': 'libgstreamer1.0-0',
    'queue': 'libgstreamer1.0-0',
    'capsfilter': 'libgstreamer1.0-0',
    'fakesink': 'libgstreamer1.0-0',
    'videotestsrc': 'gstreamer1.0-plugins-base',
    'audiotestsrc': 'gstreamer1.0-plugins-base',
    'compositor': 'gstreamer1.0-plugins-base',
    'audiomixer': 'gstreamer1.0-plugins-base',
    'videoconvert': 'gstreamer1.0-plugins-base',
    'videoscale': 'gstreamer1.0-plugins-base',
    'audioconvert': 'gstreamer1.0-plugins-base',
    'audioresample': 'gstreamer1.0-plugins-base',
    'opusdec': 'gstreamer1.0-plugins-base',
    'videocrop': 'gstreamer1.0-plugins-good',
    'flvmux': 'gstreamer1.0-plugins-good',
    'aacparse': 'gstreamer1.0-plugins-good',
    'matroskademux': 'gstreamer1.0-plugins-good',
    'tsdemux': 'gstreamer1.0-plugins-bad',
    'h264parse': 'gstreamer1.0-plugins-bad',
    'opusparse': 'gstreamer1.0-plugins-bad',
    'x264enc': 'gstreamer1.0-plugins-ugly',
    'avdec_h264': 'gstreamer1.0-libav',
    'avdec_aac': 'gstreamer1.0-libav',
    'avenc_aac': 'gstreamer1.0-libav',
}


def import_gst():
    """Gst and GLib, or a (message, package) pair saying what to install."""
    try:
        import gi
    except ImportError:
        return None, ('PyGObject is not installed for this Python', 'python3-gi')
    try:
        gi.require_version('Gst', '1.0')
    except ValueError:
        return None, ("GStreamer's introspection data (Gst-1.0.typelib) is missing", 'gir1.2-gstreamer-1.0')
    from gi.repository import Gst, GLib
    Gst.init(None)
    return (Gst, GLib), None


def missing_element(Gst):
    """The first element this machine lacks as (message, package), or None."""
    for name, package in ELEMENTS.items():
        if Gst.ElementFactory.find(name) is None:
            return f'the GStreamer element {name} is missing', package
    return None
