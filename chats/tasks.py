from django_tasks import task


@task()
def summarize_chat(chat_id: int) -> None:
    """Rewrite a chat's summary in the worker (chats/summary.py), never in the request."""
    from .summary import update_summary

    update_summary(chat_id)
