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

    def jpeg(self, i, w, h, quality=85):
        """The frame as a camera's JPEG (baseline, grey content in a colour JPEG, like the
        VC0706 and uCAM send)."""
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


def load_scene(path=None, seed=0, log=print):
    """A Scene of digits from `path` (an MNIST IDX folder (its test set), a CSV, a folder of
    images), or by default the test digits gentlenet would evaluate on."""
    from trainer import data, sources

    if path:
        split = data.load_split(path, "test")
    else:
        split = sources.find(allow_download=False, log=log).test
    # in a fixed shuffled order: a held-out sample or a folder of photos is sorted by class,
    # and a camera showing only zeros for the first hundred frames looks broken
    order = np.random.default_rng(seed).permutation(len(split))
    return Scene(split.images.reshape(-1, 28, 28)[order], split.labels[order], seed=seed)
