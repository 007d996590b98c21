"""A provider for the multi-process tests: it can be told (through files) to block, so a worker can be killed mid-call.

Each call appends a line to calls.log in $SLOW_PROVIDER_DIR ("<pid> <unix time> <prompt>"). While the file `block`
exists there, a call writes `started` and waits. When the file `rate_limited` exists, the next call removes it and
answers 429 with its content as Retry-After seconds. Images are derived from the prompt, so the same job always
yields the same bytes (and names).
"""

import hashlib
import os
import time
from pathlib import Path

from images.providers import (
    Capabilities, ImageRequest, Provider, ProviderError, ProviderImage, ProviderResult,
)
from tests.fakes import png_bytes


class SlowProvider(Provider):
    kind = "slow"
    label = "Slow (tests)"
    capabilities = Capabilities(n_max=4, needs_key=False, seed=True)

    def generate(self, request: ImageRequest) -> ProviderResult:
        folder = Path(os.environ["SLOW_PROVIDER_DIR"])
        with open(folder / "calls.log", "a") as log:
            log.write(f"{os.getpid()} {time.time():.3f} {request.prompt}\n")
        rate_limited = folder / "rate_limited"
        if rate_limited.exists():
            retry_after = float(rate_limited.read_text())
            rate_limited.unlink()
            raise ProviderError("Too many requests.", code="provider_rate_limited", retryable=True,
                                retry_after=retry_after, status=429)
        if (folder / "block").exists():
            (folder / "started").write_text(str(os.getpid()))
            while (folder / "block").exists():
                time.sleep(0.05)
        colour = tuple(hashlib.sha256(request.prompt.encode()).digest()[:3])
        return ProviderResult(images=[ProviderImage(png_bytes(colour=colour), "image/png", seed=1)], model="slow-1")
