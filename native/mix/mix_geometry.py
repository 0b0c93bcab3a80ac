# How a picture of in_w × in_h fills a tile of w × h for each TRTC RenderMode, as the crop to apply before scaling
# and whether the scaler adds black borders. Pure arithmetic: the input chain (mix_input.py) applies it with
# videocrop and videoscale, whose work it is to crop and scale.
#
#   0 stretch: the whole picture, scaled to the tile whatever its shape
#   1 crop (TRTC's default): the tile filled, the picture's excess cut evenly from both sides
#   2 fit: the whole picture, black bars where the shapes differ (videoscale add-borders)
#   3 "smart stretch": cut as for 1 but at most 20 % of the width or height; what still differs is stretched

SMART_STRETCH_MAX_CROP = 0.20


def _even(n):
    # I420 halves the chroma planes: an odd crop would shift chroma against luma by half a pixel.
    return int(n) & ~1


def crop_for(mode, in_w, in_h, w, h):
    """(left, right, top, bottom, add_borders) for a picture in_w × in_h shown in a w × h tile."""
    if mode in (0, 2) or in_w <= 0 or in_h <= 0 or w <= 0 or h <= 0:
        return 0, 0, 0, 0, mode == 2
    excess_w = in_w - in_h * w / h  # > 0: the picture is wider than the tile
    excess_h = in_h - in_w * h / w  # > 0: taller
    limit = SMART_STRETCH_MAX_CROP if mode == 3 else 1.0
    cut_w = _even(min(excess_w, in_w * limit)) if excess_w > 0 else 0
    cut_h = _even(min(excess_h, in_h * limit)) if excess_h > 0 else 0
    left = _even(cut_w / 2)
    top = _even(cut_h / 2)
    return left, cut_w - left, top, cut_h - top, False


def parse_colour(text):
    """'#RRGGBB' → 0xFFRRGGBB (videotestsrc's ARGB), or None."""
    if not isinstance(text, str) or len(text) != 7 or text[0] != '#':
        return None
    try:
        return 0xFF000000 | int(text[1:], 16)
    except ValueError:
        return None
