"""Camera frames as hard as the world: a digit written on a page, lit by a room, seen
through a cheap lens by a small sensor, at any resolution from 80x60 to 640x480.

Rendered as a camera forms a picture, not as a clean digit with effects painted on:
  1. the page's reflectance (paper, a grid, the desk beyond its edge, a neighbouring
     digit) and the pen's: ink covers the paper by the digit's coverage, a stroke as wide
     as that pen draws it (a marker, a fine pen), blue ink or grainy pencil;
  2. the light on it (a gradient, a vignette, a lamp's glare added on top), all linear;
  3. the camera tilted (keystone), the lens (focus blur, motion blur);
  4. the sensor: an exposure, photo-electrons with shot noise, read noise, hot and dead
     pixels, clipping at full well; then gamma to 8 bits, and JPEG when the camera sends it.
Geometry is in units of the frame, so a pen's stroke is 4x as many pixels wide at
640x480 as at 160x120, as on a real camera.

Each frame is one named condition on top of a good camera (`CONDITIONS`), and a pure
function of (seed, index, condition, resolution): `World.frame(i)` can be drawn again
from its name (`World.describe(i)`) when it fails.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

# name -> what the world does there
CONDITIONS = {
    "clean": "white paper, even light, a good sensor: the camera's best",
    "thick": "a marker: strokes 2-3x as wide as a pen's",
    "thin": "a fine pen: strokes about half as wide",
    "blue": "blue ballpoint: in grey, ink at 35-55 % of the paper",
    "pencil": "pencil: grey, grainy strokes at 40-65 % of the paper",
    "noise": "a high-gain sensor in dim light: shot and read noise, hot and dead pixels",
    "page-edge": "the desk beyond the page's edge, in view on one side",
    "glare": "a lamp's reflection on the page, a bright spot over part of the digit",
    "graph": "graph paper: a pale grid",
    "coloured": "coloured paper (yellow, pink, green, blue) seen in grey",
    "neighbour": "a neighbouring digit partly in view at the frame's edge",
    "keystone": "the camera tilted: the page in perspective",
    "motion": "the camera moved: motion blur",
    "focus": "out of focus",
    "jpeg": "a camera's JPEG at quality 15-35",
    "vignette": "a cheap lens: corners 40-60 % darker",
    "dim": "under-exposed: the paper at 12-25 % of full scale",
    "washed": "over-exposed: the paper clipped, the ink lifted",
    "small": "a small digit away from the centre (15-30 % of the frame's height)",
}
RESOLUTIONS = [(80, 60), (160, 120), (320, 240), (640, 480)]
_UP = 4  # the digit is drawn at 4x its 28x28 (112x112) before the pen and the frame


class World:
    """Frames of digits: frame i shows digit i with condition i % len(conditions), at
    resolution (i // len(conditions)) % len(resolutions), so any run of
    len(conditions) * len(resolutions) frames covers every pair. `frame(i, w, h)` draws
    frame i's condition at another size (as a camera simulator asks)."""

    def __init__(self, images, labels, seed=0, conditions=None, resolutions=None):
        self.images = images  # (n, 28, 28) uint8, MNIST style (white ink on black)
        self.labels = labels  # (n,) int
        self.seed = seed
        self.names = list(conditions or CONDITIONS)
        for c in self.names:
            if c not in CONDITIONS:
                raise ValueError("no condition %r (there are: %s)" % (c, ", ".join(CONDITIONS)))
        self.resolutions = list(resolutions or RESOLUTIONS)

    def __len__(self):
        return len(self.images)

    def label(self, i):
        return int(self.labels[i % len(self.labels)])

    def condition(self, i):
        return self.names[i % len(self.names)]

    def resolution(self, i):
        return self.resolutions[(i // len(self.names)) % len(self.resolutions)]

    def describe(self, i):
        w, h = self.resolution(i)
        return "frame %d: digit %d (a %d), %s at %dx%d, seed %d" % (
            i, i % len(self.images), self.label(i), self.condition(i), w, h, self.seed)

    def conditions(self, i, w, h):
        """Frame i's condition, as scene.Scene names its effects."""
        return {"condition": self.condition(i)}

    def frame(self, i, w=None, h=None):
        """(h, w) uint8 grey: frame i (at its own resolution unless w, h are given)."""
        if w is None:
            w, h = self.resolution(i)
        return render(self.images[i % len(self.images)], w, h, self.condition(i),
                      np.random.default_rng((self.seed, i, w, h)),
                      neighbour=self.images[(i + 7) % len(self.images)])

    def jpeg(self, i, w, h, quality=85):
        buf = io.BytesIO()
        Image.fromarray(self.frame(i, w, h)).convert("RGB").save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def _pen(digit, cond, rng):
    # (112, 112) float32 coverage 0..1 of the pen's ink, from an MNIST digit: the strokes'
    # middle (the anti-aliased grey above a half) widened or narrowed at 4x, then softened
    im = Image.fromarray(digit).resize((28 * _UP, 28 * _UP), Image.BICUBIC)
    if cond == "thick":
        for _ in range(int(rng.integers(3, 6))):  # +0.75..1.25 px of the 28x28 on each side
            im = im.filter(ImageFilter.MaxFilter(3))
    elif cond == "thin":
        im = im.filter(ImageFilter.MinFilter(3))
    cov = np.asarray(im, np.float32) / 255.0
    return np.clip((cov - 0.35) / 0.3, 0.0, 1.0)


def _place(cov, w, h, side, cx, cy, angle):
    # the coverage (112, 112), rotated and scaled to side px, centred at (cx, cy): (h, w)
    im = Image.fromarray((cov * 255).astype(np.uint8)).rotate(angle, Image.BILINEAR)
    side = max(4, int(round(side)))
    im = np.asarray(im.resize((side, side), Image.BILINEAR), np.float32) / 255.0
    out = np.zeros((h, w), np.float32)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if fx1 > fx0 and fy1 > fy0:
        out[fy0:fy1, fx0:fx1] = im[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return out


def _blur(img, sigma):
    if sigma < 0.05:
        return img
    k = int(np.ceil(3 * sigma))
    x = np.arange(-k, k + 1, dtype=np.float32)
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    pad = np.pad(img, k, mode="edge")
    pad = np.apply_along_axis(lambda r: np.convolve(r, g, "valid"), 1, pad)
    return np.apply_along_axis(lambda c: np.convolve(c, g, "valid"), 0, pad)


def render(digit, w, h, cond, rng, neighbour=None):
    """One frame: digit (28, 28) uint8 MNIST-style, drawn as `cond` at w x h; (h, w) uint8."""
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    k = w / 160.0  # pixels per pixel of a 160x120 frame: the optics scale with the sensor
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # 1. the page: paper, then ink. The 28x28 field is 45-80 % of the frame's height (MNIST's
    #    digit is 20/28 of it), near the middle
    paper = u(0.75, 0.9)
    if cond == "coloured":
        paper = u(0.4, 0.65)  # a coloured sheet's luma under white light
    refl = np.full((h, w), paper, np.float32)
    if cond == "graph":
        step = u(0.09, 0.14) * h
        ox, oy = u(0, step), u(0, step)
        lw = max(0.6, 0.07 * step)
        # distance to the nearest grid line, either way
        d = step / 2 - np.maximum(np.abs((xx - ox) % step - step / 2), np.abs((yy - oy) % step - step / 2))
        refl *= 1 - u(0.12, 0.3) * np.clip(1 - d / lw, 0, 1)
    small = cond == "small"
    side = (u(0.15, 0.3) if small else u(0.45, 0.8)) * h * 28 / 20
    if small:
        cx, cy = u(0.2, 0.8) * w, u(0.25, 0.75) * h
    else:
        cx, cy = w / 2 + u(-0.12, 0.12) * w, h / 2 + u(-0.1, 0.1) * h
    cov = _place(_pen(digit, cond, rng), w, h, side, cx, cy, u(-10, 10))
    if cond == "neighbour" and neighbour is not None:  # the next digit on the line, partly in view
        left = rng.random() < 0.5
        nx = (u(-0.12, 0.02) if left else u(0.98, 1.12)) * w  # cut by the frame's edge
        cov = np.maximum(cov, _place(_pen(neighbour, cond, rng), w, h, side * u(0.9, 1.1), nx,
                                     cy + u(-0.05, 0.05) * h, u(-10, 10)))
    ink = u(0.04, 0.12)  # a black pen reflects this share of what the paper does
    if cond == "blue":
        ink = u(0.35, 0.55)
    elif cond == "pencil":
        ink = u(0.4, 0.65)
        grain = np.asarray(Image.fromarray(rng.integers(0, 256, (max(2, h // 3), max(2, w // 3)), dtype=np.uint8))
                           .resize((w, h), Image.BILINEAR), np.float32) / 255.0
        cov = cov * (0.45 + 0.55 * grain)  # graphite catches on the paper's fibres
    refl *= 1 - (1 - ink) * cov
    if cond == "page-edge":  # the page ends 5-25 % into the frame on one side; beyond it, the desk
        a = u(-0.15, 0.15)
        side_ = int(rng.integers(0, 4))
        ts = [c + a * (o - 0.5)  # depth into the frame from each side, the edge tilted by a
              for c, o in ((xx / w, yy / h), (1 - xx / w, yy / h), (yy / h, xx / w), (1 - yy / h, xx / w))]
        # the digit is written on the page: the edge stays 2 px (of 160x120) short of its ink, on
        # the side drawn if there is room there, else on the side with the most
        room = [float(t[cov > 0.02].min()) if (cov > 0.02).any() else 1.0 for t in ts]
        if room[side_] < 0.05 + 2 * k / w:
            side_ = int(np.argmax(room))
        t = ts[side_]
        desk = u(0.05, 0.3) * (1 + 0.25 * np.sin(xx * u(0.2, 0.6) / k + yy * u(0.0, 0.1) / k))  # wood grain
        depth = min(u(0.05, 0.25), room[side_] - 2 * k / w)
        edge = np.clip((depth - t) * w / (0.8 * k), 0, 1)  # 1 beyond the edge
        refl = refl * (1 - edge) + desk * edge
    # 2. the light: a gradient across the frame, a vignette, then glare added on top
    ang = u(0, 2 * np.pi)
    ramp = np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5)
    light = 1 - u(0, 0.15) * (ramp + 0.7)
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) / 0.5
    light *= 1 - (u(0.4, 0.6) if cond == "vignette" else u(0, 0.1)) * r2
    radiance = light * refl
    if cond == "glare":
        gx, gy = cx + u(-0.25, 0.25) * side, cy + u(-0.25, 0.25) * side
        s = u(0.12, 0.25) * h
        radiance = radiance + u(0.5, 1.2) * paper * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * s * s))
    # 3. the camera tilted: the page in perspective; the lens
    if cond == "keystone":
        d = u(0.12, 0.22)
        top = rng.random() < 0.5
        # corners of the frame -> where they are in the page (PIL maps output to input)
        quad = (0, 0, 0, h, w, h, w, 0)
        if top:
            quad = (-d * w, 0, 0, h, w, h, w + d * w, 0)
        else:
            quad = (0, 0, -d * w, h, w + d * w, h, w, 0)
        im = Image.fromarray(radiance.astype(np.float32), "F")
        radiance = np.asarray(im.transform((w, h), Image.QUAD, quad, Image.BILINEAR), np.float32)
        radiance = np.where(radiance > 0, radiance, float(np.median(radiance)))
    sigma = (u(2.0, 3.2) if cond == "focus" else u(0.4, 0.8)) * k
    radiance = _blur(radiance, sigma)
    if cond == "motion":
        n = max(2, int(round(u(0.025, 0.05) * w)))
        a = u(0, np.pi)
        acc = np.zeros_like(radiance)
        for j in range(n):
            t = j - (n - 1) / 2
            acc += np.roll(radiance, (int(round(t * np.sin(a))), int(round(t * np.cos(a)))), axis=(0, 1))
        radiance = acc / n
    # 4. the sensor: the auto-exposure puts the brightest 1 % of the scene (a glare spot
    #    too) at 70-90 % of full scale
    exposure = u(0.7, 0.9) / max(1e-6, float(np.percentile(radiance, 99)))
    full_well, read = 6000.0, 3.0
    if cond == "dim":
        exposure *= u(0.15, 0.3)
    elif cond == "washed":
        exposure *= u(1.4, 2.0)
    elif cond == "noise":
        full_well, read = u(150, 400), u(4, 8)  # high gain: few electrons per grey level
    e = rng.poisson(np.clip(radiance * exposure, 0, 1.5) * full_well).astype(np.float32)
    signal = np.clip((e + rng.normal(0, read, e.shape)) / full_well, 0, 1)
    if cond == "noise":
        n = int(u(0.002, 0.006) * w * h)
        signal.flat[rng.integers(0, w * h, n)] = 1.0  # hot pixels
        signal.flat[rng.integers(0, w * h, n // 2)] = 0.0  # dead ones
    out = np.round(255 * signal ** (1 / 2.2)).astype(np.uint8)
    if cond == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(15, 36)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), np.uint8)
    return out

