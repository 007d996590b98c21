"""The chat model pickers' model list: each provider's listing on the wire, the owner-only fragment, its cache per
person, the neutral fallback for every failure (T22) and the key-check rate limit for outbound listings only."""

import pytest
import requests
from django.urls import reverse

from chats.llm.anthropic import AnthropicClient
from chats.llm.gemini import GeminiChatClient
from chats.llm.openai_compatible import OpenAICompatibleClient
from chats.model_list import UNLISTED_NOTE
from chats.models import Chat, ChatPreferences
from profiles.models import ApiKey
from tests.chats.conftest import fixture

pytestmark = pytest.mark.django_db
URL = "chat-model-options"
HX = {"HX-Request": "true"}
OPENAI_MODELS = "https://api.openai.com/v1/models"
ALICE_SECRET = "sk-alice-SECRET-0123456789"


def add_key(owner, provider: str, secret: str) -> ApiKey:
    key = ApiKey(owner=owner, provider=provider, label="mine")
    key.set_secret(secret)
    key.save()
    return key


def options(response) -> list[str]:
    html = response.content.decode()
    return [part.split('"', 1)[0] for part in html.split('<option value="')[1:]]


def ask(client, **params):
    return client.get(reverse(URL), params, headers=HX)


def assert_key_only_in_header(call, secret: str, header: str) -> None:
    assert secret not in call.request.url
    assert secret in call.request.headers[header]


# --- Each provider's listing -------------------------------------------------------------------------------------


def test_openai_lists_chat_models_with_the_key_in_the_authorization_header(http):
    http.get(OPENAI_MODELS, json=fixture("openai_models.json")["json"])
    client = OpenAICompatibleClient(api_key=ALICE_SECRET, base_url="https://api.openai.com/v1", label="OpenAI")
    assert client.list_models() == ["gpt-4.1-mini", "gpt-4.1-nano", "gpt-5-mini", "o4-mini"]  # no image/audio/embed
    assert_key_only_in_header(http.calls[0], ALICE_SECRET, "Authorization")


def test_openrouter_lists_its_text_models(http):
    http.get("https://openrouter.ai/api/v1/models", json=fixture("openrouter_models.json")["json"])
    client = OpenAICompatibleClient(api_key="sk-or-v1-test", base_url="https://openrouter.ai/api/v1",
                                    label="OpenRouter")
    assert client.list_models() == ["anthropic/claude-haiku-4.5", "meta-llama/llama-3.3-70b-instruct"]
    assert_key_only_in_header(http.calls[0], "sk-or-v1-test", "Authorization")


def test_anthropic_lists_models_with_x_api_key_and_version_headers(http):
    fx = fixture("anthropic_models.json")
    http.get(fx["url"], json=fx["json"])
    client = AnthropicClient(api_key="sk-ant-test", base_url="https://api.anthropic.com/v1")
    assert client.list_models() == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001",
                                    "claude-opus-4-1-20250805"]
    assert_key_only_in_header(http.calls[0], "sk-ant-test", "x-api-key")
    assert http.calls[0].request.headers["anthropic-version"] == "2023-06-01"


def test_gemini_lists_generate_content_models_with_the_key_in_a_header_not_the_url(http):
    fx = fixture("gemini_models.json")
    http.get(fx["url"], json=fx["json"])
    client = GeminiChatClient(api_key="AIza-test", base_url="https://generativelanguage.googleapis.com/v1beta")
    assert client.list_models() == ["gemini-2.5-flash", "gemini-2.5-flash-lite"]  # no embedder, no Imagen
    assert_key_only_in_header(http.calls[0], "AIza-test", "x-goog-api-key")
    assert "key=" not in http.calls[0].request.url


def test_ollama_lists_its_pulled_models_without_a_key(http):
    fx = fixture("ollama_models.json")
    http.get("https://ollama.example.com/v1/models", json=fx["json"])
    client = OpenAICompatibleClient(api_key=None, base_url="https://ollama.example.com/v1", label="Ollama")
    assert client.list_models() == ["qwen3-vl:8b", "llama3.2:latest"]
    assert "Authorization" not in http.calls[0].request.headers


# --- The fragment ------------------------------------------------------------------------------------------------


def test_the_list_needs_a_login(client, http):
    response = ask(client, llm_provider="openai")
    assert response.status_code == 302 and "/login" in response["Location"]
    assert not http.calls


def test_only_htmx_asks_for_it_so_a_link_from_elsewhere_calls_nobody(alice, alice_client, http):
    add_key(alice, "openai", ALICE_SECRET)
    response = alice_client.get(reverse(URL), {"llm_provider": "openai"})
    assert response.status_code == 400 and not http.calls


def test_the_list_is_the_providers_own_with_the_owners_key(alice, alice_client, http):
    add_key(alice, "openai", ALICE_SECRET)
    http.get(OPENAI_MODELS, json=fixture("openai_models.json")["json"])
    response = ask(alice_client, llm_provider="openai")
    assert response.status_code == 200
    assert options(response) == ["gpt-4.1-mini", "gpt-4.1-nano", "gpt-5-mini", "o4-mini"]
    assert UNLISTED_NOTE not in response.content.decode()
    assert ALICE_SECRET not in response.content.decode()
    assert_key_only_in_header(http.calls[0], ALICE_SECRET, "Authorization")


@pytest.mark.parametrize("failure", ["401", "timeout", "not json"])
def test_a_failed_listing_gives_the_known_models_and_a_neutral_note(alice, alice_client, http, failure):
    add_key(alice, "openai", ALICE_SECRET)
    if failure == "401":
        http.get(OPENAI_MODELS, json=fixture("openai_error_401.json")["json"], status=401)
    elif failure == "timeout":
        http.get(OPENAI_MODELS, body=requests.exceptions.ReadTimeout("slow"))
    else:
        http.get(OPENAI_MODELS, body="<html>502 Bad Gateway</html>", content_type="text/html")
    response = ask(alice_client, llm_provider="openai")
    assert response.status_code == 200
    assert options(response) == ["gpt-4.1-mini", "gpt-4.1-nano"]  # the default and cheap models
    assert response.content.decode().count(UNLISTED_NOTE) == 1


def test_every_failure_answers_the_same_bytes(alice, alice_client, http, settings):
    """T22: a refused private address, a closed server and a broken body look alike to the person asking."""
    settings.IMAGEGEN_KEY_CHECK_RATE = "100/h"
    http.get("https://down.example.com/v1/models", body=requests.exceptions.ConnectionError("refused"))
    http.get("https://broken.example.com/v1/models", body="not json")
    bodies = {ask(alice_client, llm_provider="ollama", llm_base_url=base).content
              for base in ("http://10.0.0.1:11434/v1", "https://down.example.com/v1", "https://broken.example.com/v1")}
    assert len(bodies) == 1 and b"10.0.0.1" not in bodies.pop()
    assert [c.request.url for c in http.calls] == ["https://down.example.com/v1/models",
                                                   "https://broken.example.com/v1/models"]  # 10.x was never dialled


def test_a_missing_key_asks_for_one_without_calling_anyone(alice_client, http):
    response = ask(alice_client, llm_provider="anthropic")
    assert options(response) == ["claude-haiku-4-5"]
    assert "Add an API key for Anthropic" in response.content.decode()
    assert not http.calls


def test_a_typed_address_never_receives_the_key(alice, alice_client, http):
    """A key goes only where the saved settings send it; an unsaved address in the form is for keyless servers."""
    add_key(alice, "openai", ALICE_SECRET)
    http.get(OPENAI_MODELS, json=fixture("openai_models.json")["json"])
    ask(alice_client, llm_provider="openai", llm_base_url="https://evil.example.com/v1")
    assert [c.request.url for c in http.calls] == [OPENAI_MODELS]


def test_blank_is_the_owners_saved_default_and_off_is_nothing(alice, alice_client, http):
    ChatPreferences.objects.create(owner=alice, llm_provider="ollama", llm_base_url="https://ollama.example.com/v1")
    http.get("https://ollama.example.com/v1/models", json=fixture("ollama_models.json")["json"])
    assert options(ask(alice_client, llm_provider="")) == ["llama3.2:latest", "qwen3-vl:8b"]
    off = ask(alice_client, llm_provider="off")
    assert off.status_code == 200 and options(off) == [] and UNLISTED_NOTE not in off.content.decode()


def test_the_cache_is_per_person(alice, bob, alice_client, bob_client, http):
    add_key(alice, "openai", ALICE_SECRET)
    add_key(bob, "openai", "sk-bob-SECRET-9876543210")
    http.get(OPENAI_MODELS, json={"object": "list", "data": [{"id": "ft:gpt-4.1-mini:alice-co::abc"}]})
    assert options(ask(alice_client, llm_provider="openai")) == ["ft:gpt-4.1-mini:alice-co::abc"]
    http.replace("GET", OPENAI_MODELS, json={"object": "list", "data": [{"id": "gpt-4.1-mini"}]})
    assert options(ask(bob_client, llm_provider="openai")) == ["gpt-4.1-mini"]
    assert "sk-bob" in http.calls[1].request.headers["Authorization"]
    # Alice's own list is still hers, from the cache: no third call.
    assert options(ask(alice_client, llm_provider="openai")) == ["ft:gpt-4.1-mini:alice-co::abc"]
    assert len(http.calls) == 2


def test_outbound_listings_are_rate_limited_and_cache_hits_are_free(alice, alice_client, http, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "2/h"
    add_key(alice, "openai", ALICE_SECRET)
    http.get(OPENAI_MODELS, json=fixture("openai_models.json")["json"])
    for _ in range(5):  # one outbound listing, then cache hits that count nothing
        assert "gpt-5-mini" in options(ask(alice_client, llm_provider="openai"))
    assert len(http.calls) == 1
    http.get("https://down.example.com/v1/models", status=503, body="")
    down = {"llm_provider": "ollama", "llm_base_url": "https://down.example.com/v1"}
    ask(alice_client, **down)  # the second outbound call: allowed (a failure is not cached)
    limited = ask(alice_client, **down)  # the third: refused before any call, with the same neutral answer
    assert len(http.calls) == 2
    assert options(limited) == ["llama3.2"] and UNLISTED_NOTE in limited.content.decode()
    # The cached list still answers.
    assert "gpt-5-mini" in options(ask(alice_client, llm_provider="openai"))


def test_the_pickers_offer_the_list_and_keep_free_text(alice, alice_client):
    chat = Chat.objects.create(owner=alice, llm_provider="gemini", llm_model="my-tuned-model")
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert 'list="chat-model-options"' in page and 'value="my-tuned-model"' in page
    assert f'hx-get="{reverse(URL)}"' in page and '<option value="gemini-2.5-flash-lite">' in page
    settings_page = alice_client.get(reverse("chat-settings")).content.decode()
    assert 'list="chat-model-options"' in settings_page
    assert 'hx-include="#id_llm_provider, #id_llm_base_url"' in settings_page
    saved = alice_client.post(reverse("chat-model-update", args=[chat.pk]),
                              {"llm_provider": "gemini", "llm_model": "gemini-exp-unlisted", "memory": ""})
    assert saved.status_code == 302
    chat.refresh_from_db()
    assert chat.llm_model == "gemini-exp-unlisted"


def test_a_keyed_provider_never_takes_the_address_saved_for_a_self_hosted_server(alice):
    """T15: an Ollama address saved as the default must not carry the OpenAI key when a chat picks OpenAI."""
    from chats.chat_model import resolve_chat_model
    from chats.models import Chat, ChatPreferences

    ChatPreferences.objects.create(owner=alice, llm_provider="ollama", llm_model="llama3.2",
                                   llm_base_url="http://192.168.1.20:11434/v1")
    assert resolve_chat_model(alice).base_url == "http://192.168.1.20:11434/v1"
    chat = Chat.objects.create(owner=alice, title="t", llm_provider="openai", llm_model="gpt-4.1-mini")
    choice = resolve_chat_model(alice, chat)
    assert choice.base_url == "" and choice.provider.base_url.startswith("https://api.openai.com")
