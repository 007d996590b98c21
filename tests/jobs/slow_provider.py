"""A provider for the multi-process tests: it can be told (through files) to block, so a worker can be killed mid-call.

Each call appends a line to calls.log in $SLOW_PROVIDER_DIR. While the file `block` exists there, a call writes
`started` and waits. Images are derived from the prompt, so the same job always yields the same bytes (and names).
"""

import hashlib
import os
import time
from pathlib import Path

from images.providers import Capabilities, ImageRequest, Provider, ProviderImage, ProviderResult
from tests.fakes import png_bytes


class SlowProvider(Provider):
    kind = "slow"
    label = "Slow (tests)"
    capabilities = Capabilities(n_max=4, needs_key=False, seed=True)

    def generate(self, request: ImageRequest) -> ProviderResult:
        folder = Path(os.environ["SLOW_PROVIDER_DIR"])
        with open(folder / "calls.log", "a") as log:
            log.write(f"{os.getpid()} {request.prompt}\n")
        if (folder / "block").exists():
            (folder / "started").write_text(str(os.getpid()))
            while (folder / "block").exists():
                time.sleep(0.05)
        colour = tuple(hashlib.sha256(request.prompt.encode()).digest()[:3])
        return ProviderResult(images=[ProviderImage(png_bytes(colour=colour), "image/png", seed=1)], model="slow-1")
