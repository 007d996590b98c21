"""What a generation cost, in US dollars: the one price table, and how a cost is worked out.

Order of trust, best first (the source is stored on Generation.cost_source):
1. "provider": the provider said what it charged (xAI `usage.cost_in_usd_ticks`, OpenRouter `usage.cost`; the
   offline renderer reports 0).
2. "tokens": the provider reported token usage (OpenAI GPT image models `usage`, Gemini `usageMetadata`), priced at
   the model's per-million-token rates below.
3. "table": the per-image list price for provider / model / quality / size below, times the number of images.
4. "unknown": nothing matched (a model this table does not know); the cost stays empty rather than guessed.

Prices are list prices in USD (seed 001's "Pricing Reference" first, then the providers' public price pages as of
2025/2026) and are estimates: the provider's invoice is the truth. Self-hosted servers cost us nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

CostSource = Literal["provider", "tokens", "table", "unknown"]
D = Decimal
ANY = "*"
CENT_PLACES = Decimal("0.0001")  # Generation.estimated_cost_usd has four decimal places

# Providers that never charge: the built-in renderer and the user's own servers.
FREE_PROVIDERS = frozenset({"offline", "automatic1111", "comfyui"})

# USD per image: {provider: {model prefix: {(quality, size): price}}}. The longest model prefix wins (so
# "gpt-image-1-mini" beats "gpt-image-1", and dated ids like "gpt-image-2-2026-04-21" find "gpt-image-2").
# Quality/size lookup order: (quality, size), (quality, *), (*, size), (*, *). Size is "WxH" of the image made.
# A quality of None/"auto" is looked up as the model's default (DEFAULT_QUALITY).
PER_IMAGE: dict[str, dict[str, dict[tuple[str, str], Decimal]]] = {
    "openai": {
        # seed 001: DALL-E 3 Standard ~$0.04, HD ~$0.08 (1024x1024); wide sizes are the next price step.
        "dall-e-3": {("standard", "1024x1024"): D("0.040"), ("standard", ANY): D("0.080"),
                     ("hd", "1024x1024"): D("0.080"), ("hd", ANY): D("0.120")},
        "dall-e-2": {(ANY, "1024x1024"): D("0.020"), (ANY, "512x512"): D("0.018"), (ANY, "256x256"): D("0.016"),
                     (ANY, ANY): D("0.020")},
        "gpt-image-1-mini": {("low", "1024x1024"): D("0.005"), ("low", ANY): D("0.006"),
                             ("medium", "1024x1024"): D("0.011"), ("medium", ANY): D("0.015"),
                             ("high", "1024x1024"): D("0.036"), ("high", ANY): D("0.052")},
        "gpt-image-1.5": {("low", "1024x1024"): D("0.009"), ("low", ANY): D("0.013"),
                          ("medium", "1024x1024"): D("0.034"), ("medium", ANY): D("0.050"),
                          ("high", "1024x1024"): D("0.133"), ("high", ANY): D("0.200")},
        "gpt-image-1": {("low", "1024x1024"): D("0.011"), ("low", ANY): D("0.016"),
                        ("medium", "1024x1024"): D("0.042"), ("medium", ANY): D("0.063"),
                        ("high", "1024x1024"): D("0.167"), ("high", ANY): D("0.250")},
        # No list price read for gpt-image-2; priced as gpt-image-1.5 until one is (it reports tokens anyway).
        "gpt-image-2": {("low", "1024x1024"): D("0.009"), ("low", ANY): D("0.013"),
                        ("medium", "1024x1024"): D("0.034"), ("medium", ANY): D("0.050"),
                        ("high", "1024x1024"): D("0.133"), ("high", ANY): D("0.200")},
        "chatgpt-image": {(ANY, ANY): D("0.034")},
    },
    "xai": {  # xAI reports cost_in_usd_ticks; these are the fallback when it does not
        "grok-imagine-image-quality": {(ANY, ANY): D("0.070")},
        "grok-imagine-image": {(ANY, ANY): D("0.020")},
        "grok-2-image": {(ANY, ANY): D("0.070")},
    },
    "gemini": {
        "gemini-2.5-flash-image": {(ANY, ANY): D("0.039")},  # seed 001: ~$0.039/image (1290 output tokens)
        "gemini-3.1-flash-image": {(ANY, ANY): D("0.067")},
        "gemini-3-pro-image": {(ANY, ANY): D("0.134")},
    },
    "imagen": {
        "imagen-3.0": {(ANY, ANY): D("0.030")},  # seed 001: Imagen 3 $0.03/image
        "imagen-4.0-fast": {(ANY, ANY): D("0.020")},  # seed 001: Imagen 4 Fast $0.02/image
        "imagen-4.0-ultra": {(ANY, ANY): D("0.060")},
        "imagen-4.0": {(ANY, ANY): D("0.040")},
    },
    "openrouter": {  # OpenRouter reports usage.cost; these mirror the underlying models' list prices
        "google/gemini-2.5-flash-image": {(ANY, ANY): D("0.039")},
        "google/gemini-3.1-flash-image": {(ANY, ANY): D("0.067")},
        "google/gemini-3-pro-image": {(ANY, ANY): D("0.134")},
        "openai/gpt-5-image-mini": {(ANY, ANY): D("0.011")},
        "openai/gpt-5-image": {(ANY, ANY): D("0.042")},
    },
    "stability": {  # Stability credits at $0.01 each
        "core": {(ANY, ANY): D("0.030")},
        "ultra": {(ANY, ANY): D("0.080")},
        "sd3.5-large-turbo": {(ANY, ANY): D("0.040")},
        "sd3.5-large": {(ANY, ANY): D("0.065")},
        "sd3.5-medium": {(ANY, ANY): D("0.035")},
        "sd3-large-turbo": {(ANY, ANY): D("0.040")},
        "sd3-large": {(ANY, ANY): D("0.065")},
        "sd3-medium": {(ANY, ANY): D("0.035")},
    },
}

# What "auto"/no quality means per model family, for the table (the API's own defaults).
DEFAULT_QUALITY = {"dall-e-3": "standard", "gpt-image": "medium"}
# Quality words the other family uses, mapped as images/providers/openai.py maps them when sending.
QUALITY_ALIASES = {"dall-e-3": {"high": "hd", "medium": "standard", "low": "standard"},
                   "gpt-image": {"hd": "high", "standard": "medium"}}


@dataclass(frozen=True)
class TokenRates:
    """USD per million tokens."""

    text_in: Decimal
    image_in: Decimal
    image_out: Decimal
    text_out: Decimal = D("0")


# {provider: {model prefix: rates}}, longest prefix wins.
PER_TOKEN: dict[str, dict[str, TokenRates]] = {
    "openai": {
        "gpt-image-1-mini": TokenRates(text_in=D("2"), image_in=D("2.5"), image_out=D("8")),
        "gpt-image-1.5": TokenRates(text_in=D("5"), image_in=D("8"), image_out=D("32"), text_out=D("10")),
        "gpt-image-1": TokenRates(text_in=D("5"), image_in=D("10"), image_out=D("40")),
        "gpt-image-2": TokenRates(text_in=D("5"), image_in=D("8"), image_out=D("32"), text_out=D("10")),
    },
    "gemini": {
        # Output image tokens: 2.5 Flash Image $30/M (1290 tokens = $0.039, seed 001); input text/image $0.30/M.
        "gemini-2.5-flash-image": TokenRates(text_in=D("0.30"), image_in=D("0.30"), image_out=D("30"),
                                             text_out=D("2.50")),
        "gemini-3.1-flash-image": TokenRates(text_in=D("0.50"), image_in=D("0.50"), image_out=D("60"),
                                             text_out=D("3")),
        "gemini-3-pro-image": TokenRates(text_in=D("2"), image_in=D("2"), image_out=D("120"), text_out=D("12")),
    },
}


@dataclass(frozen=True)
class Cost:
    usd: Decimal | None
    source: CostSource


def _longest_prefix(table: dict, model: str):
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def _family(model: str) -> str:
    return "dall-e-3" if model.startswith("dall-e-3") else "gpt-image" if model.startswith("gpt-image") else ""


def table_price(provider: str, model: str, *, quality: str | None = None, size: str = "") -> Decimal | None:
    """The list price of one image, or None when the table does not know the model."""
    if provider in FREE_PROVIDERS:
        return D("0")
    prices = _longest_prefix(PER_IMAGE.get(provider, {}), model or "")
    if prices is None:
        return None
    family = _family(model or "")
    if not quality or quality == "auto":
        quality = DEFAULT_QUALITY.get(family, ANY)
    quality = QUALITY_ALIASES.get(family, {}).get(quality, quality)
    for key in ((quality, size), (quality, ANY), (ANY, size), (ANY, ANY)):
        if key in prices:
            return prices[key]
    return None


def _int(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def token_cost(provider: str, model: str, usage: dict) -> Decimal | None:
    """The cost from reported token counts, or None when there are none or no rates for the model."""
    rates = _longest_prefix(PER_TOKEN.get(provider, {}), model or "")
    if rates is None or not isinstance(usage, dict):
        return None
    if provider == "openai":  # {"input_tokens", "output_tokens", "input_tokens_details": {text_tokens, image_tokens}}
        details = usage.get("input_tokens_details") or {}
        out_details = usage.get("output_tokens_details") or {}
        text_in, image_in = _int(details.get("text_tokens")), _int(details.get("image_tokens"))
        if not (text_in or image_in):
            text_in = _int(usage.get("input_tokens"))
        text_out = _int(out_details.get("text_tokens"))
        image_out = _int(out_details.get("image_tokens")) or max(0, _int(usage.get("output_tokens")) - text_out)
    elif provider == "gemini":  # {"promptTokenCount", "candidatesTokenCount", "candidatesTokensDetails": [...]}
        text_in, image_in = _int(usage.get("promptTokenCount")), 0
        by_modality = {d.get("modality"): _int(d.get("tokenCount"))
                       for d in usage.get("candidatesTokensDetails") or [] if isinstance(d, dict)}
        if "IMAGE" in by_modality:
            image_out, text_out = by_modality["IMAGE"], by_modality.get("TEXT", 0)
        else:
            image_out, text_out = _int(usage.get("candidatesTokenCount")), 0
    else:
        return None
    if not (text_in or image_in or image_out or text_out):
        return None
    total = (text_in * rates.text_in + image_in * rates.image_in + image_out * rates.image_out
             + text_out * rates.text_out) / D(1_000_000)
    return total


def _usd(value) -> Decimal:
    return D(str(value)).quantize(CENT_PLACES, rounding=ROUND_HALF_UP)


def generation_cost(*, provider: str, model: str, parameters: dict, usage: dict | None,
                    reported_usd: float | None, sizes: list[tuple[int, int]], unmeasured: int = 0) -> Cost:
    """The cost of a provider's answer that made images of `sizes` (width, height), plus `unmeasured` images it made,
    and billed, that we refused before measuring them (not a safe image, more than asked): those are priced at the
    requested size. An answer without any image has no per-image price: the table says 0."""
    if reported_usd is not None and reported_usd >= 0:
        return Cost(_usd(reported_usd), "provider")
    if (tokens := token_cost(provider, model, usage or {})) is not None:
        return Cost(_usd(tokens), "tokens")
    quality = parameters.get("quality") if isinstance(parameters, dict) else None
    size_names = [f"{w}x{h}" for w, h in sizes] + [requested_size(parameters)] * max(0, unmeasured)
    if not size_names:
        return Cost(D("0"), "table")
    prices = [table_price(provider, model, quality=quality, size=size) for size in size_names]
    if all(p is not None for p in prices):
        return Cost(_usd(sum(prices, D("0"))), "table")
    return Cost(None, "unknown")


def requested_size(parameters: dict) -> str:
    """The size an image we never measured is priced at: the profile's width×height, else 1024×1024 for a square
    (or unset) aspect ratio, as estimate_pending prices, else any size (the table's non-square price)."""
    params = parameters if isinstance(parameters, dict) else {}
    width, height = params.get("width"), params.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return f"{width}x{height}"
    return "1024x1024" if params.get("aspect_ratio") in (None, "", "1:1") else ANY


TRUST: tuple[CostSource, ...] = ("provider", "tokens", "table", "unknown")  # best first, as the module docstring


def least_trusted(*sources: str) -> CostSource:
    """The source of a sum of costs (several billed answers of one generation): as good as its weakest part."""
    known = [source for source in sources if source in TRUST]
    return max(known, key=TRUST.index) if known else "unknown"


def estimate_pending(*, provider: str, model: str, parameters: dict) -> Decimal:
    """What a queued or running generation will probably cost: the table's price for its count (0 if unknown).

    Used by the monthly cap, so twenty requests queued at once count before they finish.
    """
    quality = parameters.get("quality") if isinstance(parameters, dict) else None
    n = parameters.get("n", 1) if isinstance(parameters, dict) else 1
    price = table_price(provider, model, quality=quality, size="1024x1024")
    return (price or D("0")) * (n if isinstance(n, int) and n > 0 else 1)


def is_free(provider: str) -> bool:
    return provider in FREE_PROVIDERS
