"""What a /image post costs (issue 10, P1), and that the cuts changed nothing a person relies on: the post's queries,
the task's dispatch priority known at start, the limits still refusing inside the chat's transaction, and a lagging
summary not queued again at every turn."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from chats.models import Chat
from chats.summary import SUMMARY_PRIORITY
from images.jobs import dispatch_priority
from images.models import Generation
from images.styles import STYLES
from images.services import generation_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_queue(settings):
    """The ORM queue (django-tasks-db), so enqueued tasks stay in the table instead of running at once."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def chat(alice):
    return Chat.objects.create(owner=alice, title="Harbour")


def post(client, chat, text, capture):
    with capture(execute=True):  # the commit's callbacks: the enqueue
        response = client.post(reverse("chat-message-create", args=[chat.pk]), {"content": text},
                               headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response


def tasks(path):
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=path).order_by("enqueued_at")


def test_a_post_costs_fourteen_queries_in_one_transaction(alice_client, chat, database_queue,
                                                         django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image a fox", django_capture_on_commit_callbacks)  # the first post renames the chat
    with CaptureQueriesContext(connection) as queries:
        post(alice_client, chat, "/image an owl", django_capture_on_commit_callbacks)
    sql = [q["sql"] for q in queries]
    # session, user, chat; the rate-limit counter (one upsert); the messages, the chat's "updated", the default
    # profile, the owner's jobs by status, the daily limit, the generation and its task, all in one transaction.
    # Was 27, then 16 (issue 10): 5 for the counter, a savepoint and a row lock (a no-op on SQLite) around the limits,
    # a chat model lookup only the worker needs, 2 more at commit for the task's priority; then the context for the
    # offline refinement and the summary's turn count, both the worker's now, and the task's own commit.
    # PostgreSQL adds the owner's row lock (SELECT … FOR UPDATE); SQLite's IMMEDIATE transaction needs none. With
    # REDIS_URL the counter is in Redis, not a query.
    in_database = type(caches["ratelimit"]).__name__ == "AtomicDatabaseCache"
    assert len(sql) == 13 + in_database + connection.features.has_select_for_update, "\n".join(sql)
    release = next(i for i, s in enumerate(sql) if s.startswith("RELEASE SAVEPOINT"))
    assert sql[release - 1].startswith('INSERT INTO "django_tasks_database_dbtaskresult"')  # inside the transaction
    # The test's own transaction makes chat_message_post's atomic a savepoint; generation_start adds none.
    assert sum(s.startswith("SAVEPOINT") for s in sql) == 1
    assert sum(s.startswith('INSERT INTO "imagegen_ratelimit"') for s in sql) == in_database
    assert Generation.objects.get(prompt="an owl").parameters["better_context"] is True  # the worker decides


def test_the_task_carries_the_fair_priority_computed_under_the_owners_lock(alice, bob, alice_client, chat,
                                                                        database_queue,
                                                                        django_capture_on_commit_callbacks):
    for prompt in ("a fox", "an owl", "a hare"):
        post(alice_client, chat, f"/image {prompt} --raw", django_capture_on_commit_callbacks)
    Generation.objects.create(owner=bob, prompt="bob's", provider="offline")  # another user's job changes nothing
    generations = list(Generation.objects.filter(owner=alice).order_by("pk"))
    priorities = list(tasks("images.tasks.run_generation").values_list("priority", flat=True))
    # Each of alice's jobs waits behind her earlier ones (images/jobs.py): the same as computed at commit before.
    assert priorities == [0, -1, -2] == [dispatch_priority(g.pk) for g in generations]


def test_the_active_cap_still_refuses_inside_the_chats_transaction_with_an_error_card(alice_client, chat, settings,
                                                                                   database_queue,
                                                                                   django_capture_on_commit_callbacks):
    settings.IMAGEGEN_MAX_ACTIVE_PER_USER = 1
    post(alice_client, chat, "/image a fox", django_capture_on_commit_callbacks)
    refused = post(alice_client, chat, "/image an owl", django_capture_on_commit_callbacks)
    assert "1 images in progress" in " ".join(strip_tags(refused.content.decode()).split())
    # The refusal left the transaction usable: both messages and the error card were saved, one job was queued.
    assert [m.kind for m in chat.messages.order_by("pk")] == ["text", "image", "text", "error"]
    assert chat.messages.get(kind="error").metadata["code"] == "rate_limited"
    assert Generation.objects.count() == 1 and tasks("images.tasks.run_generation").count() == 1


def test_a_lagging_summary_is_queued_every_n_turns_behind_every_image(alice_client, chat, settings, database_queue,
                                                                     django_capture_on_commit_callbacks):
    settings.IMAGEGEN_SUMMARY_EVERY_TURNS = 4
    for i in range(9):  # the images are made, but no worker takes the summary task: it stays behind
        post(alice_client, chat, f"/image a lighthouse, take {i} --raw", django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):  # an image card's turn ends with its job
            generation_run(generation_id=Generation.objects.filter(chat=chat).latest("pk").pk)
    summaries = tasks("chats.tasks.summarize_chat")
    assert summaries.count() == 2  # at turns 4 and 8, not at 5, 6, 7 and 9 too
    assert set(summaries.values_list("priority", flat=True)) == {SUMMARY_PRIORITY}
    assert SUMMARY_PRIORITY < min(tasks("images.tasks.run_generation").values_list("priority", flat=True))


def test_the_post_leaves_the_refinement_to_the_worker(alice_client, chat, database_queue,
                                                      django_capture_on_commit_callbacks):
    post(alice_client, chat, "the harbour has granite walls and red fishing boats", django_capture_on_commit_callbacks)
    post(alice_client, chat, "/image a lighthouse --style sketch", django_capture_on_commit_callbacks)
    generation = Generation.objects.get()
    # Queued: the words as typed with the style (what the card shows until the job runs); no context read yet.
    assert generation.refined_prompt == f"a lighthouse, {STYLES['sketch'].suffix}"
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    assert generation.refined_prompt.startswith("a lighthouse; context: ") and "granite" in generation.refined_prompt
    assert generation.refined_prompt.endswith(STYLES["sketch"].suffix)


def test_a_retry_keeps_the_chat_models_refinement(alice, chat, database_queue):
    from chats.refine import refine_generation_offline

    generation = Generation.objects.create(owner=alice, chat=chat, prompt="a lighthouse", provider="offline",
                                           refined_prompt="a tall lighthouse at dusk",
                                           parameters={"better_context": True, "refined_by": "OpenAI · gpt-4.1-nano"})
    refine_generation_offline(generation)  # the next attempt's first step
    generation.refresh_from_db()
    assert generation.refined_prompt == "a tall lighthouse at dusk"
