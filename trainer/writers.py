"""Digits by writers outside MNIST: each digit drawn as pen strokes, in a named writing
style, by a made-up writer with their own slant, proportions, pen and unsteady hand.

MNIST's writers were American: a 1 is a bare stick, a 7 has no bar, a 2 has no loop. Much
of the world writes otherwise, and a network trained on MNIST alone reads those digits
badly. This module makes such digits on demand, so the project can measure that and
measure the cure (fine-tuning on a user's own digits: `gentlenet train --from`).

A digit is a list of strokes in a box 0.6 wide and 1 high (x right, y down); a stroke is a
polyline ("L", sharp corners) or a smooth curve through its points ("C"). A writer
(seeded) slants, stretches and wobbles every stroke, then the strokes are drawn with a
round pen on white paper at 64x64 and read by the same `mnistify` that reads a user's
photo, so a generated digit reaches the network the way a photographed one does.

    from trainer import writers
    split = writers.generate("continental", 500, seed=1)   # Split: (500, 28, 28) uint8, labels
"""
from __future__ import annotations

import math

import numpy as np

from trainer.data import Split


def _arc(cx, cy, rx, ry, a0, a1, n=16):
    # points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down: y points down)
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n)]


# The digits most of MNIST's writers drew: the baseline a trained network should read.
SCHOOL = {
    0: [("L", _arc(0.3, 0.5, 0.28, 0.48, -90, 270, 28))],
    1: [("L", [(0.34, 0.0), (0.28, 1.0)])],
    2: [("L", _arc(0.3, 0.27, 0.27, 0.26, 195, 380) + [(0.02, 0.98), (0.6, 0.98)])],
    3: [("L", _arc(0.28, 0.26, 0.25, 0.24, 200, 450) + _arc(0.28, 0.74, 0.29, 0.26, -90, 165))],
    4: [("L", [(0.46, 1.0), (0.46, 0.0), (0.0, 0.68), (0.6, 0.68)])],
    5: [("L", [(0.58, 0.02), (0.12, 0.02), (0.08, 0.44)] + _arc(0.3, 0.68, 0.28, 0.3, -135, 160))],
    6: [("C", [(0.52, 0.0), (0.24, 0.22), (0.05, 0.6), (0.16, 0.95), (0.4, 0.97), (0.56, 0.76), (0.42, 0.52),
               (0.16, 0.56), (0.06, 0.72)])],
    7: [("L", [(0.0, 0.02), (0.6, 0.02), (0.2, 1.0)])],
    8: [("L", _arc(0.3, 0.25, 0.22, 0.24, 90, 450, 24)), ("L", _arc(0.3, 0.74, 0.28, 0.26, -90, 270, 24))],
    9: [("L", _arc(0.3, 0.28, 0.26, 0.27, 10, 370, 24)), ("L", [(0.56, 0.3), (0.5, 1.0)])],
}
# Continental Europe: a 1 with a long flag (and often a base), a crossed 7, an open 4.
# A digit with a list of lists has variants: each writer keeps to one of them.
CONTINENTAL = {**SCHOOL, **{
    1: [[("L", [(0.02, 0.38), (0.42, 0.0), (0.38, 1.0)])],
        [("L", [(0.04, 0.32), (0.4, 0.0), (0.36, 1.0)]), ("L", [(0.1, 1.0), (0.6, 0.99)])]],
    4: [("L", [(0.12, 0.0), (0.02, 0.62), (0.6, 0.62)]), ("L", [(0.47, 0.2), (0.44, 1.0)])],
    7: [[("L", [(0.02, 0.12), (0.05, 0.02), (0.6, 0.02), (0.2, 1.0)]), ("L", [(0.12, 0.52), (0.56, 0.5)])],
        [("L", [(0.0, 0.02), (0.6, 0.02), (0.24, 1.0)]), ("L", [(0.14, 0.5), (0.6, 0.48)])]],
}}
# Loops and flat tops: a looped 2, a 3 with a flat top, a 9 with a curved tail.
LOOPED = {**SCHOOL, **{
    2: [("C", [(0.04, 0.2), (0.3, 0.0), (0.55, 0.2), (0.4, 0.55), (0.1, 0.84), (0.32, 0.76), (0.26, 0.98),
               (0.06, 0.9), (0.3, 0.94), (0.6, 0.97)])],
    3: [("L", [(0.04, 0.02), (0.56, 0.02), (0.22, 0.42)] + _arc(0.28, 0.7, 0.29, 0.28, -100, 160))],
    9: [("L", _arc(0.3, 0.28, 0.26, 0.27, 10, 370, 24)),
        ("C", [(0.56, 0.3), (0.54, 0.7), (0.4, 0.98), (0.1, 0.9)])],
}}
STYLES = {"school": SCHOOL, "continental": CONTINENTAL, "looped": LOOPED}
DESCRIPTIONS = {
    "school": "the digits MNIST's (American) writers drew: the baseline",
    "continental": "continental Europe: a 1 with a flag, a crossed 7, an open 4",
    "looped": "a looped 2, a flat-topped 3, a 9 with a curved tail",
}
_SIDE = 64  # the paper's side in pixels; the digit is about 40 px high on it
_SS = 4  # drawn at 4x and averaged down: an anti-aliased pen


def _smooth(pts, per=8):
    # a Catmull-Rom curve through the points (the ends repeated)
    p = np.asarray(pts, np.float64)
    p = np.vstack([p[:1], p, p[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, per, endpoint=False):
            out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t +
                              (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    out.append(p[-2])
    return np.array(out)


class Writer:
    """One made-up writer: slant, width, pen and how unsteady the hand is, fixed for all the
    digits they write."""

    def __init__(self, rng):
        u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
        self.slant = u(-0.12, 0.35)  # x moves right by this much per unit height going up
        self.width = u(0.75, 1.2)  # the digit's width against the style's
        self.pen = u(0.07, 0.15)  # the stroke's width, in the digit's heights
        self.wobble = u(0.008, 0.025)  # how far a control point strays
        self.rng = rng
        self.variant = [int(rng.integers(0, 1 << 16)) for _ in range(10)]  # which variant of each digit

    def strokes(self, style, digit):
        """The digit's strokes as (n, 2) point arrays in the digit's box, as this writer
        draws them this time (each drawing differs a little)."""
        rng = self.rng
        angle = math.radians(rng.normal(0, 4))
        c, s = math.cos(angle), math.sin(angle)
        out = []
        glyph = STYLES[style][digit]
        if isinstance(glyph[0], list):  # variants: this writer's
            glyph = glyph[self.variant[digit] % len(glyph)]
        for kind, pts in glyph:
            p = np.asarray(pts, np.float64)
            p = p + rng.normal(0, self.wobble, (len(p), 2))
            p = _smooth(p) if kind == "C" else _densify(p)
            x = (p[:, 0] - 0.3) * self.width + self.slant * (0.5 - p[:, 1])
            y = p[:, 1] - 0.5
            out.append(np.stack([c * x - s * y, s * x + c * y], 1))
        return out

    def page(self, style, digit):
        """(64, 64) uint8: the digit in dark ink on white paper, as a camera or scanner sees it."""
        from PIL import Image, ImageDraw

        n = _SIDE * _SS
        im = Image.new("L", (n, n), 0)
        d = ImageDraw.Draw(im)
        k = 0.62 * n  # the digit's height in pixels
        r = max(1.0, self.pen * k / 2)
        for p in self.strokes(style, digit):
            q = [(float(x * k + n / 2), float(y * k + n / 2)) for x, y in p]
            d.line(q, fill=255, width=int(round(2 * r)))
            for x, y in q:  # a round pen: no notches where the line turns
                d.ellipse((x - r, y - r, x + r, y + r), fill=255)
        cov = np.asarray(im.resize((_SIDE, _SIDE), Image.BOX), np.float32) / 255.0
        ink, paper = self.rng.uniform(15, 60), self.rng.uniform(200, 250)
        return np.round(paper + (ink - paper) * cov).astype(np.uint8)


def _densify(p, step=0.04):
    # a polyline with points at most `step` apart, so the wobble bends lines, not just corners
    out = [p[0]]
    for a, b in zip(p[:-1], p[1:]):
        m = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        out += [a + (b - a) * t for t in np.linspace(0, 1, m + 1)[1:]]
    return np.array(out)


def pages(style, n, seed=0):
    """(pages (n, 64, 64) uint8 grey, labels (n,) uint8): n digits in `style`, 0-9 in turn,
    each writer writing one of each (writer i // 10). A pure function of its arguments."""
    if style not in STYLES:
        raise ValueError("unknown writing style %r (known: %s)" % (style, ", ".join(STYLES)))
    out = np.empty((n, _SIDE, _SIDE), np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    writer = None
    for i in range(n):
        if i % 10 == 0:
            writer = Writer(np.random.default_rng([seed, i // 10, 0x6E74]))
        out[i] = writer.page(style, int(labels[i]))
    return out, labels


def generate(style, n, seed=0):
    """Split of n MNIST-style (28, 28) digits in `style`: the pages read by mnistify."""
    from trainer import preprocess

    grey, labels = pages(style, n, seed)
    images = np.stack([preprocess.mnistify(g.tobytes(), _SIDE, _SIDE) for g in grey]) if n else \
        np.zeros((0, 28, 28), np.uint8)
    return Split(images, labels)
