"""What a cheap camera sees when pointed at a handwritten digit on paper.

An MNIST digit (white ink on black, 28x28) becomes dark ink on lit paper: a paper grey
with a lighting gradient across the frame, the digit at a random size and position,
lens blur, then sensor noise. Every frame is a pure function of (seed, index), so a test
can render again the frame a simulated camera sent.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass
class Look:
    paper: tuple = (150, 225)       # paper grey, before the gradient
    gradient: float = 25.0          # grey levels from one side of the frame to the other, at most
    ink: tuple = (15, 70)           # ink grey
    size: tuple = (0.55, 0.85)      # the digit's 28x28 field as a fraction of the frame height
    blur: tuple = (0.3, 0.9)        # Gaussian blur radius, pixels
    noise: tuple = (1.5, 4.0)       # sensor noise, standard deviation in grey levels


@dataclass
class Hard:
    """A desk camera as it is: lit from one side, a shadow, a vignette, small or tilted
    digits, specks and a ruled line, noise before and after the blur, low-quality JPEG.
    Every effect is named in `Scene.conditions(i, w, h)`, so a failing frame can be told
    apart and drawn again."""
    paper: tuple = (150, 235)       # paper grey where the light is brightest
    gradient: float = 0.40          # the paper darkens by up to this fraction across the frame
    vignette: tuple = (0.0, 0.25)   # corners darker by this fraction
    shadow: float = 0.5             # probability of a soft shadow edge across part of the frame
    shadow_depth: tuple = (0.15, 0.35)
    shadow_soft: tuple = (2.0, 10.0)  # px over which the shadow edge fades
    ink: tuple = (0.08, 0.45)       # ink reflectance as a fraction of the paper's
    size: tuple = (0.35, 0.9)       # the digit's 28x28 field as a fraction of the frame height
    rotate: float = 15.0            # degrees either way
    blur: tuple = (0.3, 1.2)
    noise_pre: tuple = (1.0, 4.0)   # sensor noise before the lens blur (grey levels, s.d.)
    noise: tuple = (1.5, 4.0)       # and after it
    specks: float = 0.3             # probability of 1-4 dark specks
    line: float = 0.3               # probability of a ruled line near the top or bottom edge
    jpeg_quality: tuple = (30, 60)


class Scene:
    """Frames rendered from digits: `scene.frame(i, w, h)` -> (h, w) uint8 grey."""

    def __init__(self, images, labels, seed=0, look=None):
        self.images = images  # (n, 28, 28) uint8, MNIST style
        self.labels = labels  # (n,) int
        self.seed = seed
        self.look = look or Look()

    def __len__(self):
        return len(self.images)

    def label(self, i):
        return int(self.labels[i % len(self.labels)])

    def frame(self, i, w, h):
        if isinstance(self.look, Hard):
            return self._hard(i, w, h)[0]
        L = self.look
        rng = np.random.default_rng((self.seed, i))
        u = lambda r: rng.uniform(*r)  # noqa: E731
        digit = Image.fromarray(self.images[i % len(self.images)])
        side = max(8, int(round(h * u(L.size))))
        digit = np.asarray(digit.resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0
        ink_field = np.zeros((h, w), np.float32)
        x0 = int(rng.integers(0, max(1, w - side + 1)))
        y0 = int(rng.integers(0, max(1, h - side + 1)))
        sx, sy = min(side, w - x0), min(side, h - y0)
        ink_field[y0:y0 + sy, x0:x0 + sx] = digit[:sy, :sx]
        angle = u((0, 2 * np.pi))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = (np.cos(angle) * (xx / max(1, w - 1) - 0.5) + np.sin(angle) * (yy / max(1, h - 1) - 0.5))
        paper = u(L.paper) + u((0, L.gradient)) * ramp
        ink = u(L.ink)
        img = paper - (paper - ink) * ink_field
        img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        img = np.asarray(img.filter(ImageFilter.GaussianBlur(u(L.blur))), dtype=np.float32)
        img = img + rng.normal(0, u(L.noise), img.shape)
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    def conditions(self, i, w, h):
        """The named effects of frame i (Hard scenes), for per-condition accuracy."""
        if not isinstance(self.look, Hard):
            return {}
        return self._hard(i, w, h)[1]

    def _hard(self, i, w, h):
        L = self.look
        rng = np.random.default_rng((self.seed, i, 1))
        u = lambda r: float(rng.uniform(*r))  # noqa: E731
        c = {}
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        nx, ny = xx / max(1, w - 1), yy / max(1, h - 1)  # 0..1 across the frame
        # light: brightest paper, a gradient from one side, a vignette
        paper = np.full((h, w), u(L.paper), np.float32)
        angle = u((0, 2 * np.pi))
        ramp = np.cos(angle) * (nx - 0.5) + np.sin(angle) * (ny - 0.5)
        ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))  # 0 lit .. 1 dark side
        c["gradient"] = round(u((0, L.gradient)), 3)
        paper *= 1 - c["gradient"] * ramp
        c["vignette"] = round(u(L.vignette), 3)
        paper *= 1 - c["vignette"] * (((nx - 0.5) ** 2 + (ny - 0.5) ** 2) / 0.5)
        c["shadow"] = bool(rng.random() < L.shadow)
        if c["shadow"]:  # a soft edge: one side of a random line, part of the frame
            a = u((0, 2 * np.pi))
            px, py = u((0.1, 0.9)) * w, u((0.1, 0.9)) * h
            d = (np.cos(a) * (xx - px) + np.sin(a) * (yy - py)) / u(L.shadow_soft)
            paper *= 1 - u(L.shadow_depth) / (1 + np.exp(-np.clip(d, -30, 30)))
        # the digit: size, rotation, place (it may touch the frame's edge)
        c["size"] = round(u(L.size), 3)
        c["rotation"] = round(u((-L.rotate, L.rotate)), 1)
        side = max(8, int(round(h * c["size"])))
        digit = Image.fromarray(self.images[i % len(self.images)]).rotate(c["rotation"], Image.BILINEAR)
        digit = np.asarray(digit.resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0
        ink_field = np.zeros((h, w), np.float32)
        x0 = int(rng.integers(-side // 8, max(1, w - side + side // 8 + 1)))
        y0 = int(rng.integers(-side // 8, max(1, h - side + side // 8 + 1)))
        dx0, dy0 = max(0, -x0), max(0, -y0)
        fx0, fy0 = max(0, x0), max(0, y0)
        sx, sy = min(side - dx0, w - fx0), min(side - dy0, h - fy0)
        if sx > 0 and sy > 0:
            ink_field[fy0:fy0 + sy, fx0:fx0 + sx] = digit[dy0:dy0 + sy, dx0:dx0 + sx]
        c["specks"] = 0
        if rng.random() < L.specks:
            c["specks"] = int(rng.integers(1, 5))
            for _ in range(c["specks"]):
                cx, cy, r = u((0, w)), u((0, h)), u((0.7, 1.8))
                ink_field = np.maximum(ink_field, np.clip(1.5 - np.hypot(xx - cx, yy - cy) / r, 0, 1) * 0.8)
        c["line"] = bool(rng.random() < L.line)
        if c["line"]:  # a ruled line near the top or the bottom edge
            y = u((0.02, 0.1)) * h
            y = y if rng.random() < 0.5 else h - 1 - y
            ink_field = np.maximum(ink_field, np.clip(1.2 - np.abs(yy - y), 0, 1) * u((0.2, 0.4)))
        img = paper * (1 - (1 - u(L.ink)) * ink_field)
        img = img + rng.normal(0, u(L.noise_pre), img.shape)
        img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        c["blur"] = round(u(L.blur), 2)
        img = np.asarray(img.filter(ImageFilter.GaussianBlur(c["blur"])), dtype=np.float32)
        img = img + rng.normal(0, u(L.noise), img.shape)
        c["contrast"] = round(float(paper.min() / paper.max()), 3)  # darkest paper / brightest paper
        c["jpeg_quality"] = int(round(u(L.jpeg_quality)))
        return np.clip(np.round(img), 0, 255).astype(np.uint8), c

    def jpeg(self, i, w, h, quality=85):
        """The frame as a camera's JPEG (baseline, grey content in a colour JPEG, like the
        VC0706 and uCAM send); a Hard scene's frames at its own low quality."""
        if isinstance(self.look, Hard):
            quality = self.conditions(i, w, h)["jpeg_quality"]
        buf = io.BytesIO()
        Image.fromarray(self.frame(i, w, h)).convert("RGB").save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def decode_jpeg(data):
    """JPEG bytes -> (h, w) uint8 grey, or ValueError naming the problem."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG: it does not start with FF D8 (%d bytes)" % len(data))
    if data[-2:] != b"\xff\xd9":
        raise ValueError("JPEG cut short: no FF D9 end marker (%d bytes)" % len(data))
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # noqa: Pillow raises several kinds for damaged JPEGs
        raise ValueError("damaged JPEG: %s" % e) from None
    return np.asarray(img.convert("L"), dtype=np.uint8)


# by name, for `gentlenet camera-sim --look`: (the look, what it is in a few words)
LOOKS = {"desk": (Hard, "as a desk camera sees a page (light from one side, shadows, small or tilted digits, specks, "
                        "a ruled line)"),
         "gentle": (Look, "even light, large digits"),
         "world": (None, "as hard as the world: each frame one of 19 conditions (a marker, pencil, blue ink, sensor "
                         "noise, the desk beyond the page, glare, graph or coloured paper, a neighbouring digit, "
                         "tilt, motion, focus, JPEG, vignette, dim, washed out, small), trainer/world.py")}


def load_scene(path=None, seed=0, log=print, look="desk", shuffle=True):
    """A Scene of digits from `path` (an MNIST IDX folder (its test set), a CSV, a folder of
    images), or by default the test digits gentlenet would evaluate on. look: "desk" (a
    desk camera as it is: uneven light, shadows, small and tilted digits, specks, lines)
    or "gentle" (even light, large digits). shuffle=False: in the order the path gives them."""
    from trainer import data, sources

    if path:
        split = data.load_split(path, "test")
    else:
        split = sources.find(allow_download=False, log=log).test
    # in a fixed shuffled order: a held-out sample or a folder of photos is sorted by class,
    # and a camera showing only zeros for the first hundred frames looks broken
    order = np.random.default_rng(seed).permutation(len(split)) if shuffle else np.arange(len(split))
    if look == "world":
        from trainer.world import World

        return World(split.images.reshape(-1, 28, 28)[order], split.labels[order], seed=seed)
    return Scene(split.images.reshape(-1, 28, 28)[order], split.labels[order], seed=seed, look=LOOKS[look][0]())
