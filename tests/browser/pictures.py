"""Pictures that look like photos (a sky, a sun, hills, a lake), made at test time, so the
gallery's screenshots show something a person would upload."""

from __future__ import annotations

import random
from io import BytesIO

from PIL import Image, ImageDraw, ImageFilter

# Sky top, sky bottom, sun, then hills from far to near.
PALETTES = (
    (
        (255, 136, 97),
        (255, 214, 153),
        (255, 244, 214),
        ((222, 120, 110), (160, 80, 96), (84, 48, 72)),
    ),
    (
        (70, 130, 200),
        (190, 225, 245),
        (255, 250, 230),
        ((120, 160, 150), (70, 120, 90), (40, 80, 60)),
    ),
    ((40, 40, 90), (220, 110, 140), (255, 200, 170), ((120, 70, 120), (70, 45, 90), (30, 25, 55))),
    (
        (120, 190, 230),
        (240, 240, 220),
        (255, 255, 240),
        ((170, 180, 120), (110, 140, 80), (60, 90, 50)),
    ),
    ((20, 30, 60), (60, 90, 150), (235, 235, 250), ((50, 70, 110), (35, 50, 85), (20, 30, 55))),
    (
        (250, 190, 120),
        (250, 230, 190),
        (255, 250, 235),
        ((200, 140, 90), (150, 95, 70), (95, 60, 50)),
    ),
)


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def scenery(width: int = 1600, height: int = 1200, seed: int = 0, *, grain: int = 0) -> Image.Image:
    """A landscape: `seed` picks the palette and the hills; `grain` adds sensor-like noise
    (which makes the JPEG as large as a real photo's)."""
    rng = random.Random(seed)
    top, bottom, sun, hills = PALETTES[seed % len(PALETTES)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.55, 0.7))
    for y in range(horizon):
        draw.line([(0, y), (width, y)], fill=_mix(top, bottom, y / horizon))
    radius = int(min(width, height) * rng.uniform(0.06, 0.11))
    cx, cy = int(width * rng.uniform(0.2, 0.8)), int(horizon * rng.uniform(0.35, 0.75))
    glow = Image.new("L", (width, height), 0)
    ImageDraw.Draw(glow).ellipse(
        (cx - radius * 3, cy - radius * 3, cx + radius * 3, cy + radius * 3), fill=90
    )
    image.paste(sun, mask=glow.filter(ImageFilter.GaussianBlur(radius)))
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=sun)
    for layer, colour in enumerate(hills):
        base = horizon + int(height * 0.12 * layer)
        points = [(0, height)]
        y = base - rng.randint(0, height // 6)
        for x in range(0, width + 80, 80):
            y = max(int(height * 0.3), min(height, y + rng.randint(-height // 18, height // 18)))
            points.append((x, y - int(height * 0.1 * (2 - layer) / 2)))
        points.append((width, height))
        draw.polygon(points, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    if grain:
        noise = Image.effect_noise((width, height), grain).convert("RGB")
        image = Image.blend(image, noise, 0.08)
    return image


def jpeg(image: Image.Image, quality: int = 88) -> bytes:
    out = BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def transparent_png(size: int = 480) -> bytes:
    """A round badge on a transparent background."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((size * 0.08, size * 0.08, size * 0.92, size * 0.92), fill=(79, 70, 229, 255))
    draw.ellipse((size * 0.3, size * 0.26, size * 0.5, size * 0.46), fill=(255, 255, 255, 255))
    draw.polygon(
        [
            (size * 0.2, size * 0.74),
            (size * 0.45, size * 0.5),
            (size * 0.6, size * 0.62),
            (size * 0.7, size * 0.54),
            (size * 0.82, size * 0.74),
        ],
        fill=(255, 255, 255, 255),
    )
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
