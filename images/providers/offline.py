"""The built-in offline renderer: a deterministic procedural sketch, so /image works with no key and no network.

It is a placeholder, not AI: colours come from the prompt's words, the layout from a seeded RNG. The same prompt,
seed and size always give the same bytes (the PNG encoder writes no timestamps).

Edits work offline too, so `/edit make it darker` does something with no key: the instruction's words pick plain
image operations (darker, black and white, sepia, a colour tint, mirror, blur, pixel art, …), and words it does not
know are drawn as shapes like a new sketch's, so every edit visibly changes the image. The card's warning lists what
was applied.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
import re

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderImage, ProviderResult

# Pixel sizes per aspect ratio, about one megapixel, multiples of 64 (what SDXL-class models use too).
ASPECT_SIZES = {
    "1:1": (1024, 1024),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
}

NAMED_COLOURS = {
    "red": (200, 40, 40), "crimson": (160, 20, 50), "orange": (240, 130, 40), "fox": (215, 105, 35),
    "amber": (250, 180, 40), "gold": (230, 190, 60), "golden": (230, 190, 60), "yellow": (245, 220, 70),
    "sun": (255, 200, 80), "sunny": (255, 210, 90), "green": (60, 150, 70), "forest": (30, 90, 50),
    "grass": (100, 170, 70), "leaf": (90, 160, 60), "moss": (100, 120, 60), "teal": (30, 130, 130),
    "blue": (50, 90, 200), "sky": (120, 180, 235), "sea": (30, 100, 160), "ocean": (20, 80, 150),
    "water": (60, 130, 190), "river": (70, 140, 190), "lake": (60, 120, 170), "ice": (190, 225, 240),
    "snow": (240, 244, 250), "winter": (200, 215, 235), "purple": (120, 60, 170), "violet": (140, 90, 200),
    "lavender": (180, 160, 220), "pink": (240, 140, 180), "rose": (220, 90, 120), "dawn": (250, 170, 150),
    "sunrise": (250, 160, 110), "sunset": (240, 110, 70), "dusk": (120, 80, 130), "night": (20, 25, 60),
    "midnight": (10, 15, 40), "moon": (230, 230, 210), "storm": (70, 80, 95), "fog": (190, 195, 200),
    "mist": (200, 205, 215), "brown": (120, 80, 50), "wood": (140, 95, 60), "desert": (220, 180, 120),
    "sand": (225, 200, 150), "black": (20, 20, 20), "white": (245, 245, 245), "grey": (128, 128, 128),
    "gray": (128, 128, 128), "silver": (190, 195, 205), "fire": (240, 90, 30), "lava": (220, 60, 20),
    "neon": (255, 40, 200), "cyberpunk": (0, 230, 255), "autumn": (200, 110, 40), "spring": (150, 210, 120),
    "lighthouse": (235, 235, 235), "mountain": (110, 115, 130), "cherry": (230, 120, 150),
}

WORD = re.compile(r"[a-zA-Z\u00c0-\u024f]+")


def size_for(request: ImageRequest) -> tuple[int, int]:
    if request.width and request.height:
        return request.width, request.height
    return ASPECT_SIZES.get(request.aspect_ratio or "1:1", ASPECT_SIZES["1:1"])


def word_colour(word: str) -> tuple[int, int, int]:
    if word in NAMED_COLOURS:
        return NAMED_COLOURS[word]
    digest = hashlib.sha256(word.encode()).digest()
    r, g, b = colorsys.hsv_to_rgb(digest[0] / 255, 0.35 + digest[1] / 640, 0.55 + digest[2] / 640)
    return int(r * 255), int(g * 255), int(b * 255)


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3))  # type: ignore[return-value]


def palette_for(words: list[str]) -> list[tuple[int, int, int]]:
    named = [NAMED_COLOURS[w] for w in words if w in NAMED_COLOURS]
    others = [word_colour(w) for w in words if w not in NAMED_COLOURS and len(w) > 3]
    palette = named + others
    while len(palette) < 5:
        palette.append(word_colour(f"pad{len(palette)}{''.join(words)}"))
    return palette


def render(prompt: str, seed: int, width: int, height: int) -> bytes:
    words = [w.lower() for w in WORD.findall(prompt)] or ["empty"]
    rng = random.Random(f"{seed}|{width}x{height}|{prompt}")
    palette = palette_for(words)
    dark = any(w in words for w in ("night", "midnight", "dark", "storm", "noir"))

    sky_top = mix(palette[0], (10, 15, 40) if dark else (255, 255, 255), 0.35)
    sky_bottom = mix(palette[1 % len(palette)], (255, 240, 220) if not dark else (40, 30, 60), 0.45)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=mix(sky_top, sky_bottom, y / max(1, height - 1)))

    # Sun or moon.
    radius = int(min(width, height) * rng.uniform(0.07, 0.14))
    cx, cy = int(width * rng.uniform(0.15, 0.85)), int(height * rng.uniform(0.12, 0.4))
    glow = Image.new("L", (width, height), 0)
    ImageDraw.Draw(glow).ellipse([cx - radius * 2, cy - radius * 2, cx + radius * 2, cy + radius * 2], fill=110)
    glow = glow.filter(ImageFilter.GaussianBlur(radius))
    img.paste(mix(sky_bottom, (255, 250, 235), 0.7), mask=glow)
    draw = ImageDraw.Draw(img)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(245, 240, 220) if dark else (255, 225, 150))

    # Layered hills, each a sum of seeded sine waves, darker towards the front.
    layers = rng.randint(3, 5)
    for i in range(layers):
        base = height * (0.5 + 0.12 * i)
        colour = mix(palette[(i + 2) % len(palette)], (15, 20, 30), 0.15 + 0.12 * i)
        waves = [(rng.uniform(0.5, 3.5), rng.uniform(0, math.tau), rng.uniform(0.02, 0.08)) for _ in range(3)]
        points = [(0, height)]
        for x in range(0, width + 8, 8):
            y = base + sum(amp * height * math.sin(freq * x / width * math.tau + phase) for freq, phase, amp in waves)
            points.append((x, y))
        points.append((width, height))
        draw.polygon(points, fill=colour)

    # One shape per meaningful word, in the word's colour, scattered over the scene.
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    odraw = ImageDraw.Draw(overlay)
    for word in [w for w in words if len(w) > 3][:12]:
        colour = word_colour(word) + (rng.randint(120, 210),)
        x, y = rng.uniform(0.05, 0.95) * width, rng.uniform(0.35, 0.95) * height
        s = min(width, height) * rng.uniform(0.03, 0.09)
        shape = rng.choice(("circle", "triangle", "diamond"))
        if shape == "circle":
            odraw.ellipse([x - s, y - s, x + s, y + s], fill=colour)
        elif shape == "triangle":
            odraw.polygon([(x, y - s * 1.4), (x - s, y + s), (x + s, y + s)], fill=colour)
        else:
            odraw.polygon([(x, y - s), (x + s, y), (x, y + s), (x - s, y)], fill=colour)
    img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")

    if any(w.startswith(("watercolo", "painting", "pastel")) for w in words):
        img = img.filter(ImageFilter.GaussianBlur(3)).filter(ImageFilter.SMOOTH_MORE)
    if any(w in ("pixel", "pixelart", "8bit", "retro") for w in words):
        img = img.resize((max(1, width // 16), max(1, height // 16)), Image.Resampling.BILINEAR)
        img = img.resize((width, height), Image.Resampling.NEAREST)
    if any(w in ("sketch", "pencil", "drawing", "charcoal") for w in words):
        img = img.convert("L").filter(ImageFilter.CONTOUR).convert("RGB")

    return png_with_label(img, f"offline sketch · seed {seed}")


def png_with_label(img: Image.Image, label: str) -> bytes:
    """An honest label in the image itself, so a downloaded file never passes for AI output."""
    width, height = img.size
    font = ImageFont.load_default(size=max(12, height // 48))
    ldraw = ImageDraw.Draw(img)
    box = ldraw.textbbox((0, 0), label, font=font)
    # At least as wide as the longest sketch label, so an edit's label hides the one it was made from.
    right = max(box[2], ldraw.textbbox((0, 0), "offline sketch · seed 2147483647", font=font)[2])
    pad = max(4, height // 160)
    x0, y0 = pad, height - (box[3] - box[1]) - 3 * pad
    ldraw.rectangle([x0 - pad, y0 - pad, x0 + right + pad, height - pad], fill=(0, 0, 0))
    ldraw.text((x0, y0 - box[1]), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _tint(img: Image.Image, colour: tuple[int, int, int], amount: float) -> Image.Image:
    return Image.blend(img, Image.new("RGB", img.size, colour), amount)


def _sepia(img: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(img), black=(40, 26, 13), white=(255, 240, 205))


def _pixelate(img: Image.Image) -> Image.Image:
    width, height = img.size
    small = img.resize((max(1, width // 16), max(1, height // 16)), Image.Resampling.BILINEAR)
    return small.resize((width, height), Image.Resampling.NEAREST)


# Instruction words → (what the card says was applied, the operation). Checked in this order; each applies once.
EDIT_OPERATIONS: list[tuple[tuple[str, ...], str, object]] = [
    (("darker", "dark", "night", "dim", "gloomy", "moody"), "darker", lambda im: ImageEnhance.Brightness(im).enhance(0.6)),
    (("brighter", "bright", "lighter", "light", "day", "daylight", "sunny"), "brighter",
     lambda im: ImageEnhance.Brightness(im).enhance(1.35)),
    (("sepia", "vintage", "old", "antique"), "sepia", _sepia),
    (("grayscale", "greyscale", "monochrome", "mono", "bw"), "black and white", lambda im: ImageOps.grayscale(im).convert("RGB")),
    (("warmer", "warm", "golden"), "warmer", lambda im: _tint(im, (255, 150, 60), 0.18)),
    (("cooler", "cool", "cold", "icy", "frozen"), "cooler", lambda im: _tint(im, (70, 130, 255), 0.18)),
    (("contrast", "punchy", "dramatic"), "more contrast", lambda im: ImageEnhance.Contrast(im).enhance(1.4)),
    (("vivid", "saturated", "colourful", "colorful", "vibrant"), "more colour",
     lambda im: ImageEnhance.Color(im).enhance(1.6)),
    (("faded", "muted", "desaturated", "washed"), "muted", lambda im: ImageEnhance.Color(im).enhance(0.45)),
    (("watercolour", "watercolor", "painting", "painted", "soft", "dreamy"), "soft painting",
     lambda im: im.filter(ImageFilter.GaussianBlur(3)).filter(ImageFilter.SMOOTH_MORE)),
    (("blur", "blurry", "blurred", "fog", "foggy", "misty"), "blur", lambda im: im.filter(ImageFilter.GaussianBlur(6))),
    (("sharper", "sharpen", "sharp", "crisp"), "sharper", lambda im: im.filter(ImageFilter.SHARPEN)),
    (("sketch", "pencil", "drawing", "charcoal"), "pencil sketch",
     lambda im: im.convert("L").filter(ImageFilter.CONTOUR).convert("RGB")),
    (("pixel", "pixelated", "pixelart", "8bit", "retro"), "pixel art", _pixelate),
    (("invert", "inverted", "negative"), "colour negative", ImageOps.invert),
    (("mirror", "mirrored", "flip", "flipped"), "mirrored", ImageOps.mirror),
    (("upside",), "upside down", ImageOps.flip),
]
EDIT_WORDS = {word for words, _label, _op in EDIT_OPERATIONS for word in words}
# Colour names that tint the whole image ("make it purple"); other named things ("lighthouse") are drawn.
TINT_COLOURS = {"red", "crimson", "orange", "amber", "gold", "yellow", "green", "teal", "blue", "purple", "violet",
                "lavender", "pink", "rose", "brown", "silver", "grey", "gray"}
# Words that say how to edit but draw nothing ("make it …", "add a …").
FILLER_WORDS = {"make", "it", "the", "and", "more", "less", "add", "with", "into", "turn", "please", "image", "picture",
                "photo", "this", "that", "look", "like", "some", "than", "very", "bit", "little", "change", "down",
                "white", "black", "style", "version", "colour", "color", "colors", "colours", "tone", "toned", "side"}


def edit_image(data: bytes, instruction: str, seed: int, max_side: int,
               mask: bytes | None = None) -> tuple[bytes, list[str]]:
    """The offline edit of one input image: operations the instruction names, then its other words as shapes; with
    a `mask` (the canonical one: 255 = change), only inside it. Returns PNG bytes and the names of what was applied."""
    words = [w.lower() for w in WORD.findall(instruction)]
    with Image.open(io.BytesIO(data)) as source:
        img = source.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    original = img.copy() if mask is not None else None
    applied = []
    if "black" in words and "white" in words and not any(w in words for w in ("grayscale", "greyscale", "monochrome")):
        words.append("monochrome")
    for triggers, label, operation in EDIT_OPERATIONS:
        if any(w in triggers for w in words):
            img = operation(img)
            applied.append(label)
    colours = [w for w in words if w in TINT_COLOURS]
    if colours and not any(label in applied for label in ("black and white", "sepia")):
        img = _tint(img, NAMED_COLOURS[colours[0]], 0.22)
        applied.append(f"{colours[0]} tint")
    extra = [w for w in words if len(w) > 3 and w not in EDIT_WORDS | FILLER_WORDS | TINT_COLOURS]
    if extra or not applied:
        img = _draw_word_shapes(img, extra or words or ["edit"], random.Random(f"{seed}|{instruction}"))
        applied.append("shapes for " + ", ".join(extra[:6]) if extra else "shapes")
    if original is not None:
        with Image.open(io.BytesIO(mask)) as painted:
            inside = painted.convert("L").resize(img.size, Image.Resampling.NEAREST)
        img = Image.composite(img, original, inside)
        applied.append("inside the painted area only")
    return png_with_label(img, f"offline edit · seed {seed}"), applied


def _draw_word_shapes(img: Image.Image, words: list[str], rng: random.Random) -> Image.Image:
    width, height = img.size
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    odraw = ImageDraw.Draw(overlay)
    for word in words[:8]:
        colour = word_colour(word) + (rng.randint(150, 220),)
        x, y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.85) * height
        s = min(width, height) * rng.uniform(0.05, 0.12)
        odraw.ellipse([x - s, y - s, x + s, y + s], fill=colour, outline=(255, 255, 255, 200), width=max(1, int(s // 12)))
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


class OfflineProvider(Provider):
    kind = "offline"
    label = "Offline sketch (built in)"
    disclaimer = "Offline sketch – placeholder, not AI"
    capabilities = Capabilities(
        edit=True,
        mask=True,
        n_max=4,
        aspect_ratios=tuple(ASPECT_SIZES),
        models=("sketch-v1",),
        default_model="sketch-v1",
        seed=True,
        needs_key=False,
        max_side=2048,
    )

    def generate(self, request: ImageRequest) -> ProviderResult:
        width, height = size_for(request)
        base_seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        images = []
        for i in range(request.n):
            seed = (base_seed + i) % 2**31
            images.append(ProviderImage(data=render(request.prompt, seed, width, height), mime_type="image/png", seed=seed))
        warnings = []
        if request.negative_prompt:
            warnings.append("The offline sketch ignores the negative prompt.")
        return ProviderResult(images=images, model="sketch-v1", warnings=warnings, cost_usd=0.0)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        (data, _mime), *rest = request.input_images
        base_seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        images, applied = [], []
        for i in range(request.n):
            seed = (base_seed + i) % 2**31
            png, applied = edit_image(data, request.prompt, seed, self.capabilities.max_side, request.mask)
            images.append(ProviderImage(data=png, mime_type="image/png", seed=seed))
        warnings = [f"Offline edit (not AI): {', '.join(applied)}."]
        if rest:
            warnings.append("The offline edit uses the first input image only.")
        return ProviderResult(images=images, model="sketch-v1", warnings=warnings, cost_usd=0.0)
