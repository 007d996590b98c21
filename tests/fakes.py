"""A scriptable provider for service tests (the llm project's mock-model trick)."""

import io

from PIL import Image

from images.providers import Capabilities, ImageRequest, Provider, ProviderImage, ProviderResult


def png_bytes(width: int = 64, height: int = 48, colour: tuple = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


class FakeProvider(Provider):
    kind = "fake"
    label = "Fake"
    capabilities = Capabilities(n_max=4, aspect_ratios=("1:1", "16:9"), needs_key=False, seed=True)
    calls: list[ImageRequest] = []
    # Each call pops the next answer: bytes → one PNG image; an Exception → raised; a callable → called.
    script: list = []

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.script = []

    def generate(self, request: ImageRequest) -> ProviderResult:
        type(self).calls.append(request)
        answer = type(self).script.pop(0) if type(self).script else png_bytes()
        if callable(answer) and not isinstance(answer, Exception):
            answer = answer()
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, ProviderResult):
            return answer
        return ProviderResult(images=[ProviderImage(data=answer, mime_type="image/png", seed=7)], model="fake-1")
