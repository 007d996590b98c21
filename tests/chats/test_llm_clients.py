"""The three chat API families: request bodies and headers on the wire, streamed events, errors → taxonomy."""

import base64

import pytest
import responses

from chats.llm import CHAT_PROVIDERS, ChatModelChoice, build_client
from chats.llm.anthropic import AnthropicClient
from chats.llm.base import ChatRequest, ChatTurn, TextDelta, Tool, ToolCall
from chats.llm.gemini import GeminiChatClient
from chats.llm.openai_compatible import OpenAICompatibleClient
from images.providers.base import ProviderError
from tests.chats.conftest import fixture, sent_json, sse

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")
TOOL = Tool("generate_image", "Generate an image.", {"type": "object", "properties": {"prompt": {"type": "string"}}})


def request(**kw) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "m"), messages=kw.pop("messages", (ChatTurn("user", "hi"),)), **kw)


def openai(base="https://api.openai.com/v1", key="sk-test") -> OpenAICompatibleClient:
    return OpenAICompatibleClient(api_key=key, base_url=base, label="OpenAI")


def test_openai_stream_yields_text_pieces_in_order(http):
    http.post("https://api.openai.com/v1/chat/completions", body=sse("openai_stream.sse"),
              content_type="text/event-stream")
    events = list(openai().stream(request(model="gpt-4.1-mini", system="be brief", max_tokens=50)))
    assert events == [TextDelta("A lighthouse"), TextDelta(" on a cliff,\nlit at dusk.")]
    body = sent_json(http.calls[0])
    assert body["stream"] is True and body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body  # api.openai.com's name for it
    assert http.calls[0].request.headers["Authorization"] == "Bearer sk-test"


def test_openai_compatible_tool_call_arguments_are_joined_from_pieces(http):
    http.post("https://openrouter.ai/api/v1/chat/completions", body=sse("openai_tool_stream.sse"),
              content_type="text/event-stream")
    client = openai(base="https://openrouter.ai/api/v1", key="sk-or-v1-test")
    events = list(client.stream(request(tools=(TOOL,), max_tokens=20, temperature=0.2)))
    assert events == [TextDelta("Drawing it now."),
                      ToolCall("generate_image", {"prompt": "A lighthouse in a storm, crashing waves",
                                                  "size": "1792x1024"})]
    body = sent_json(http.calls[0])
    assert body["tools"] == [{"type": "function", "function": {"name": "generate_image",
                                                               "description": "Generate an image.",
                                                               "parameters": TOOL.parameters}}]
    assert body["max_tokens"] == 20 and body["temperature"] == 0.2
    assert http.calls[0].request.headers["X-OpenRouter-Title"] == "imagegen"


def test_openai_images_ride_as_data_url_parts(http):
    fx = fixture("openai_chat_completion.json")
    http.post("https://api.openai.com/v1/chat/completions", json=fx["json"])
    text = openai().complete(request(messages=(ChatTurn("user", "What is in this image?", ((PNG, "image/png"),)),)))
    assert text == fx["json"]["choices"][0]["message"]["content"]
    content = sent_json(http.calls[0])["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is in this image?"}
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_openai_reasoning_models_get_no_temperature(http):
    http.post("https://api.openai.com/v1/chat/completions", json=fixture("openai_chat_completion.json")["json"])
    openai().complete(request(model="gpt-5-mini", temperature=0.4, max_tokens=500))
    body = sent_json(http.calls[0])
    assert "temperature" not in body and body["max_completion_tokens"] == 500


def test_ollama_needs_no_key_and_maps_a_missing_model(http, settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = []
    fx = fixture("ollama_error_404.json")
    http.post("https://ollama.example.com/v1/chat/completions", json=fx["json"], status=404)
    client = OpenAICompatibleClient(api_key=None, base_url="https://ollama.example.com/v1", label="Ollama")
    with pytest.raises(ProviderError) as e:
        list(client.stream(request(model="qwen3-vl:8b")))
    assert e.value.code == "provider_error" and "not found, try pulling it first" in e.value.message
    assert "Authorization" not in http.calls[0].request.headers


@pytest.mark.parametrize("name,code", [("openai_error_401.json", "provider_auth_failed"),
                                       ("openrouter_error_402.json", "provider_error")])
def test_openai_compatible_errors_map_to_the_taxonomy_and_never_echo_the_key(http, name, code):
    fx = fixture(name)
    http.post("https://api.openai.com/v1/chat/completions", json=fx["json"], status=fx["status"])
    with pytest.raises(ProviderError) as e:
        list(openai(key="sk-test-1234").stream(request()))
    assert e.value.code == code and "sk-test" not in e.value.message


def test_a_local_server_is_refused_unless_the_operator_allows_it(settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = []
    client = OpenAICompatibleClient(base_url="http://127.0.0.1:11434/v1")
    with pytest.raises(ProviderError) as e:
        list(client.stream(request()))
    assert e.value.code == "url_forbidden"


def test_anthropic_sends_version_key_system_and_image_blocks(http):
    fx = fixture("anthropic_messages.json")
    http.post("https://api.anthropic.com/v1/messages", json=fx["json"])
    client = AnthropicClient(api_key="sk-ant-test")
    turns = (ChatTurn("assistant", "earlier reply"), ChatTurn("user", "Describe it.", ((PNG, "image/png"),)))
    assert client.complete(request(model="claude-haiku-4-5", messages=turns, system="sys", temperature=0.4,
                                   max_tokens=500)) == "A plain white square."
    call = http.calls[0].request
    assert call.headers["x-api-key"] == "sk-ant-test" and call.headers["anthropic-version"] == "2023-06-01"
    body = sent_json(http.calls[0])
    assert body["system"] == "sys" and body["temperature"] == 0.4 and body["max_tokens"] == 500
    # A leading assistant turn is dropped (the API wants the user first); the image block comes before the text.
    assert [m["role"] for m in body["messages"]] == ["user"]
    image, text = body["messages"][0]["content"]
    assert image == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": base64.b64encode(PNG).decode()}}
    assert text == {"type": "text", "text": "Describe it."}


def test_anthropic_stream_text_and_tool_use(http):
    http.post("https://api.anthropic.com/v1/messages", body=sse("anthropic_stream.sse"),
              content_type="text/event-stream")
    events = list(AnthropicClient(api_key="k").stream(request(tools=(TOOL,))))
    assert events == [TextDelta("The fox looks"), TextDelta(" sleepy."), ToolCall("edit_image",
                                                                                   {"instruction": "make it darker"})]
    assert sent_json(http.calls[0])["tools"][0]["input_schema"] == TOOL.parameters


def test_anthropic_overloaded_mid_stream_is_a_retryable_error_after_the_text(http):
    http.post("https://api.anthropic.com/v1/messages", body=sse("anthropic_stream_overloaded.sse"),
              content_type="text/event-stream")
    seen = []
    with pytest.raises(ProviderError) as e:
        for event in AnthropicClient(api_key="k").stream(request()):
            seen.append(event)
    assert seen == [TextDelta("Partly")] and e.value.code == "provider_rate_limited" and e.value.retryable


@pytest.mark.parametrize("name,code", [("anthropic_error_401.json", "provider_auth_failed"),
                                       ("anthropic_error_529.json", "provider_rate_limited")])
def test_anthropic_http_errors(http, name, code):
    fx = fixture(name)
    http.post("https://api.anthropic.com/v1/messages", json=fx["json"], status=fx["status"])
    with pytest.raises(ProviderError) as e:
        list(AnthropicClient(api_key="k").stream(request()))
    assert e.value.code == code


def test_gemini_stream_skips_thoughts_and_reads_function_calls(http):
    url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    http.post(url, body=sse("gemini_stream.sse"), content_type="text/event-stream")
    client = GeminiChatClient(api_key="AIza-test")
    turns = (ChatTurn("user", "hi"), ChatTurn("assistant", "hello"), ChatTurn("user", "kite?", ((PNG, "image/png"),)))
    events = list(client.stream(request(model="gemini-2.5-flash", messages=turns, system="sys", tools=(TOOL,),
                                        temperature=0.4, max_tokens=500)))
    assert events == [TextDelta("Here is"), TextDelta(" a plan."),
                      ToolCall("generate_image", {"prompt": "a red kite over dunes", "count": 2})]
    call = http.calls[0].request
    assert call.url.endswith("?alt=sse") and call.headers["x-goog-api-key"] == "AIza-test"
    assert "key=" not in call.url
    body = sent_json(http.calls[0])
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][2]["parts"][1] == {"inlineData": {"mimeType": "image/png",
                                                              "data": base64.b64encode(PNG).decode()}}
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert body["generationConfig"] == {"temperature": 0.4, "maxOutputTokens": 500}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "generate_image"


def test_gemini_bad_key(http):
    fx = fixture("gemini_error_400_key.json")
    http.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
              json=fx["json"], status=400)
    with pytest.raises(ProviderError) as e:
        GeminiChatClient(api_key="AIza-bad").complete(request(model="gemini-2.5-flash"))
    assert e.value.code == "provider_auth_failed"


def test_a_provider_that_needs_a_key_refuses_to_build_without_one():
    with pytest.raises(ProviderError) as e:
        build_client(ChatModelChoice(CHAT_PROVIDERS["anthropic"], "claude-haiku-4-5"), api_key=None)
    assert e.value.code == "missing_api_key"


@pytest.mark.parametrize("kind,model,sees", [
    ("openai", "gpt-4.1-mini", True), ("openai", "gpt-3.5-turbo", False),
    ("anthropic", "claude-haiku-4-5", True), ("gemini", "gemini-2.5-flash", True),
    ("openrouter", "anthropic/claude-haiku-4.5", True), ("openrouter", "mistralai/mistral-7b-instruct", False),
    ("ollama", "qwen3-vl:8b", True), ("ollama", "llama3.2", False), ("xai", "grok-3-mini", False),
])
def test_vision_capability_is_a_list_per_provider(kind, model, sees):
    assert CHAT_PROVIDERS[kind].sees_images(model) is sees


def test_the_stream_keeps_the_byte_cap_and_refuses_redirects(http):
    from imagegen_site import http as safe_http

    http.post("https://api.example.com/v1/chat/completions", body="data: " + "x" * 5000 + "\n\n",
              content_type="text/event-stream")
    with pytest.raises(ProviderError) as e:
        with safe_http.stream("POST", "https://api.example.com/v1/chat/completions", json={}, max_bytes=1024) as r:
            list(r.lines())
    assert "larger than" in e.value.message
    http.post("https://api.example.com/v1/redirect", status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(ProviderError) as e:
        with safe_http.stream("POST", "https://api.example.com/v1/redirect", json={}):
            pass
    assert "redirect" in e.value.message
