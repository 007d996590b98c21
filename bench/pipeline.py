"""P2's reference: the raw image pipeline alone, with Pillow and hashlib and nothing of the product.

base64 decode → Pillow verify → decode + PNG re-encode → sha256 → 512 px WEBP thumbnail (from the bitmap already
decoded) → write both files. This is the least any ingest has to do with one provider image.
"""

from __future__ import annotations

import base64
import hashlib
import io
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image


def raw_pipeline(b64: str, folder: Path) -> None:
    data = base64.b64decode(b64)
    Image.open(io.BytesIO(data)).verify()
    img = Image.open(io.BytesIO(data))
    img.load()
    out = io.BytesIO()
    img.save(out, format="PNG")
    clean = out.getvalue()
    digest = hashlib.sha256(clean).hexdigest()
    thumb = img.copy()
    thumb.thumbnail((512, 512))
    tout = io.BytesIO()
    thumb.save(tout, format="WEBP", quality=80)
    (folder / f"{digest[:16]}.png").write_bytes(clean)
    (folder / f"{digest[:16]}.webp").write_bytes(tout.getvalue())


def measure(png: bytes, runs: int = 5) -> dict:
    """Median wall time of the raw pipeline over `runs` (after one warm-up), in seconds."""
    b64 = base64.b64encode(png).decode()
    times = []
    with tempfile.TemporaryDirectory(prefix="imagegen-bench-pipeline-") as tmp:
        for i in range(runs + 1):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            start = time.perf_counter()
            raw_pipeline(b64, folder)
            if i:
                times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "runs_s": times}
