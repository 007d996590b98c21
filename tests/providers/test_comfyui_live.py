"""ComfyUI live progress (providers.md §7): the /ws?clientId= websocket read between /history polls.

The websocket is real: a `websockets` server on 127.0.0.1 plays ComfyUI's messages, while /prompt, /history and
/view are `responses` stubs on the same host and port (responses only intercepts requests' adapter, so the two
coexist). The websocket is a nicety: these tests also prove that losing it never costs the image.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Callable, Iterator

import pytest
import responses
from responses import matchers
from websockets.sync.server import ServerConnection, serve

from imagegen_site import http as safe_http
from images.providers import comfyui
from images.providers.base import ImageRequest, ProviderError
from images.providers.comfyui import ComfyUIProvider, LiveProgress

from .support import JPEG, PNG, reply, sent_json

PROMPT_ID = "9f1c2d3e-4b5a-6789-8abc-def012345678"
VIEW = {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}
REQUEST = ImageRequest(prompt="a fox", seed=1, model="v1-5-pruned-emaonly.safetensors")


def text(kind: str, **data: object) -> str:
    return json.dumps({"type": kind, "data": data})


def preview(image: bytes, image_format: int = 1) -> bytes:
    return struct.pack(">II", comfyui.PREVIEW_IMAGE, image_format) + image


def progress(value: int, maximum: int, node: str = "3") -> str:
    return text("progress", value=value, max=maximum, prompt_id=PROMPT_ID, node=node)


STATUS = text("status", status={"exec_info": {"queue_remaining": 1}}, sid="x")
FINISHED = text("executing", node=None, display_node=None, prompt_id=PROMPT_ID)


class ComfyWebsocket:
    """A loopback stand-in for ComfyUI's /ws: sends `script` to each client, then holds the connection open until
    the client closes it (or closes it itself when `hang_up`)."""

    def __init__(self, script: list[str | bytes], *, hang_up: bool = False) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Host header)

        def handler(conn: ServerConnection) -> None:
            self.requests.append((conn.request.path, conn.request.headers["Host"]))
            for message in script:
                conn.send(message)
            if not hang_up:
                for _ in conn:  # until the client closes
                    pass

        self.server = serve(handler, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def comfy(allowlist: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ComfyWebsocket]]:
    servers: list[ComfyWebsocket] = []

    def start(script: list[str | bytes], **kw: bool) -> ComfyWebsocket:
        server = ComfyWebsocket(script, **kw)
        servers.append(server)
        allowlist(f"127.0.0.1:{server.port}", f"comfy.test:{server.port}")
        return server

    monkeypatch.setattr(ComfyUIProvider, "poll_interval", 5.0)  # a listen window ends early when the run finishes
    yield start
    for server in servers:
        server.close()


def listening(base: str) -> tuple[ComfyUIProvider, list[tuple[int | None, bytes | None]]]:
    reports: list[tuple[int | None, bytes | None]] = []
    provider = ComfyUIProvider(base_url=base)

    def on_progress(percent: int | None, image: bytes | None) -> None:
        # The worker's listener writes to the database: it must run on the caller's thread, never the library's.
        assert threading.current_thread() is threading.main_thread()
        reports.append((percent, image))

    provider.on_progress = on_progress
    return provider, reports


def stub_run(http: responses.RequestsMock, base: str, pending: int = 1) -> None:
    http.post(f"{base}/prompt", **reply("comfyui", "post_prompt_success"))
    for _ in range(pending):
        http.get(f"{base}/history/{PROMPT_ID}", **reply("comfyui", "history_pending"))
    http.get(f"{base}/history/{PROMPT_ID}", **reply("comfyui", "history_done"))
    http.get(f"{base}/view", match=[matchers.query_param_matcher(VIEW)], **reply("comfyui", "view_image_success"))


def test_it_reports_sampler_percents_in_order_and_a_throttled_preview(http: responses.RequestsMock,
                                                                      comfy: Callable[..., ComfyWebsocket],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comfyui, "PREVIEW_EVERY", 60.0)  # however slow the machine, the second frame is too soon
    server = comfy([STATUS, text("execution_start", prompt_id=PROMPT_ID),
                    text("execution_cached", nodes=[], prompt_id=PROMPT_ID),
                    text("executing", node="3", display_node="3", prompt_id=PROMPT_ID),
                    progress(1, 4), preview(JPEG), progress(2, 4), preview(JPEG + b"later"), progress(4, 4),
                    text("executed", node="9", output={"images": [VIEW]}, prompt_id=PROMPT_ID), FINISHED])
    base = f"http://127.0.0.1:{server.port}"
    stub_run(http, base)
    provider, reports = listening(base)

    result = provider.generate(REQUEST)

    assert result.images[0].data == PNG
    # The first frame is passed on at once; the second came too soon after it and is dropped.
    assert reports == [(25, None), (25, JPEG), (50, None), (99, None), (100, None)]
    assert server.requests[0][0] == f"/ws?clientId={sent_json(http.calls[0])['client_id']}"


def test_without_a_listener_no_websocket_is_opened(http: responses.RequestsMock,
                                                   comfy: Callable[..., ComfyWebsocket]) -> None:
    server = comfy([STATUS, FINISHED])
    base = f"http://127.0.0.1:{server.port}"
    stub_run(http, base, pending=0)
    assert ComfyUIProvider(base_url=base).generate(REQUEST).images[0].data == PNG
    assert server.requests == []


def test_a_dropped_websocket_falls_back_to_polling(http: responses.RequestsMock,
                                                   comfy: Callable[..., ComfyWebsocket],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server = comfy([STATUS, progress(1, 4)], hang_up=True)
    monkeypatch.setattr(ComfyUIProvider, "poll_interval", 0.2)
    base = f"http://127.0.0.1:{server.port}"
    stub_run(http, base, pending=3)
    provider, reports = listening(base)

    result = provider.generate(REQUEST)

    assert result.images[0].data == PNG and result.request_id == PROMPT_ID
    assert reports == [(25, None)]
    assert [c.request.method for c in http.calls] == ["POST", "GET", "GET", "GET", "GET", "GET"]


def test_an_oversized_frame_ends_the_websocket_not_the_generation(http: responses.RequestsMock,
                                                                  comfy: Callable[..., ComfyWebsocket],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = comfy([STATUS, progress(1, 4), preview(b"\xff\xd8" + b"x" * comfyui.WS_MAX_BYTES), progress(2, 4),
                    FINISHED])
    monkeypatch.setattr(ComfyUIProvider, "poll_interval", 0.2)
    base = f"http://127.0.0.1:{server.port}"
    stub_run(http, base, pending=2)
    provider, reports = listening(base)

    result = provider.generate(REQUEST)

    assert result.images[0].data == PNG
    assert reports == [(25, None)]  # nothing after the refused frame: the websocket was closed there


def test_no_websocket_at_the_server_means_polling_only(http: responses.RequestsMock, allowlist: Callable[..., None],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as unused:  # a loopback port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    allowlist(f"127.0.0.1:{port}")
    monkeypatch.setattr(ComfyUIProvider, "poll_interval", 0)
    base = f"http://127.0.0.1:{port}"
    stub_run(http, base)
    provider, reports = listening(base)

    assert provider.generate(REQUEST).images[0].data == PNG
    assert reports == []


def test_the_websocket_dials_the_validated_address_and_keeps_the_host_name(comfy: Callable[..., ComfyWebsocket],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    server = comfy([STATUS])
    lookups, dialled = [], []
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: lookups.append(host) or ["127.0.0.1"])
    inner = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda s, address: dialled.append(address[0]) or inner(s, address))

    ws = safe_http.websocket(f"http://comfy.test:{server.port}/ws?clientId=abc", timeout_total=10)
    try:
        assert json.loads(ws.recv(timeout=5))["type"] == "status"
    finally:
        ws.close()

    assert lookups == ["comfy.test"] and dialled == ["127.0.0.1"]
    assert server.requests == [("/ws?clientId=abc", f"comfy.test:{server.port}")]


@pytest.mark.parametrize("base", ["http://192.168.1.20:8188", "http://10.0.0.5:8188", "http://169.254.169.254"])
def test_the_ssrf_guard_refuses_a_websocket_to_a_private_address_not_allowlisted(
        base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dialled: list[str] = []
    monkeypatch.setattr(socket.socket, "connect", lambda s, address: dialled.append(address[0]))
    with pytest.raises(ProviderError) as info:
        safe_http.websocket(f"{base}/ws?clientId=abc")
    assert info.value.code == "url_forbidden"
    provider, reports = listening(base)
    with pytest.raises(ProviderError) as info:  # the prompt itself is refused by the same guard
        provider.generate(REQUEST)
    assert info.value.code == "url_forbidden"
    assert dialled == [] and reports == []


class Script:
    """Messages for LiveProgress without a server."""

    def __init__(self, messages: list[str | bytes]) -> None:
        self.messages = list(messages)
        self.closed = False

    def recv(self, timeout: float) -> str | bytes | None:
        return self.messages.pop(0) if self.messages else None

    def close(self) -> None:
        self.closed = True


TWO_SAMPLERS = {"3": {"class_type": "KSampler"}, "8": {"class_type": "VAEDecodeTiled"},
                "10": {"class_type": "KSamplerAdvanced"}, "11": {"class_type": "SaveImage"}}


def percents(messages: list[str | bytes]) -> tuple[list[int | None], Script]:
    reports: list[int | None] = []
    ws = Script(messages)
    live = LiveProgress(ws, lambda percent, image: reports.append(percent))  # type: ignore[arg-type]
    live.expect(PROMPT_ID, TWO_SAMPLERS)
    live.listen(5)
    return reports, ws


def test_several_samplers_share_the_bar_which_never_goes_back() -> None:
    reports, ws = percents([progress(10, 20, "3"), progress(20, 20, "3"), progress(1, 2, "8"),
                            progress(5, 10, "10"), progress(3, 10, "3"), progress(10, 10, "10"), FINISHED])
    # The tiled VAE's own bar is not sampling; a late report from the first sampler does not pull the bar back.
    assert reports == [25, 50, 75, 99, 100]
    assert ws.closed  # closed as soon as the prompt finished


def test_a_cached_sampler_takes_no_share_and_other_prompts_are_ignored() -> None:
    other = json.dumps({"type": "progress", "data": {"value": 9, "max": 10, "prompt_id": "other", "node": "10"}})
    reports, _ = percents([text("execution_cached", nodes=["3"], prompt_id=PROMPT_ID), other,
                           progress(5, 10, "10"), preview(PNG, image_format=2), b"\x00\x00\x00\x01",
                           preview(PNG, image_format=9), "not json", text("execution_error", prompt_id=PROMPT_ID)])
    assert reports == [50, 50]  # the second is the PNG frame; the malformed frames pass nothing on; no 100 on error
