from django_tasks import task


@task()
def run_generation(generation_id: int, request_id: str = "") -> None:
    from ops.logs import request_id_context

    from . import services

    # The web request's id (or a fresh one for jobs queued before it existed) on every log line of this run.
    with request_id_context(request_id):
        services.generation_run(generation_id=generation_id)
