"""Style presets: a prompt suffix and a negative prompt each (seed 003's styles)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    slug: str
    name: str
    suffix: str
    negative: str = ""


STYLES = {
    s.slug: s
    for s in [
        Style("watercolour", "Watercolour", "watercolour painting, soft washes, paper texture", "photo, hard edges"),
        Style("sketch", "Sketch", "pencil sketch, cross-hatching, graphite on paper", "colour, photo"),
        Style("photo", "Photo", "photograph, natural light, 35mm, sharp focus", "illustration, cartoon"),
        Style("cinematic", "Cinematic", "cinematic still, dramatic lighting, anamorphic, film grain", "flat lighting"),
        Style("pixel-art", "Pixel art", "pixel art, 16-bit palette, crisp pixels", "blurry, smooth gradients"),
        Style("gingerbread", "Gingerbread", "made of gingerbread and icing, festive, warm light", ""),
        Style("parisian-postcard", "Parisian postcard", "vintage Parisian postcard, pastel print, 1950s", "modern"),
        Style("anime", "Anime", "anime illustration, clean line art, cel shading", "photo, 3d render"),
        Style("oil-painting", "Oil painting", "oil painting, visible brush strokes, rich colour", "photo"),
        Style("3d-render", "3D render", "3D render, soft global illumination, studio lighting", "flat, sketch"),
    ]
}
