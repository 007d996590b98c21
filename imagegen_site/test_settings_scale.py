"""The test suite on the scale path: PostgreSQL and Redis on 127.0.0.1, as CI and the development machines have them.

`./run test` runs the job and API tests a second time with `pytest --ds=imagegen_site.test_settings_scale` when both
answer (and says it skipped them when they don't); the default run stays on SQLite. Each pytest process gets its
own test database and Redis key prefix, so several people can run the suite on one server at once.
"""

import os

import dj_database_url

os.environ.setdefault("REDIS_URL", os.environ.get("IMAGEGEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))

from .test_settings import *  # noqa: E402,F403

_run = f"imagegen_{os.getpid()}"
DATABASES = {
    "default": {
        **dj_database_url.parse(os.environ.get("IMAGEGEN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")),
        "TEST": {"NAME": f"test_{_run}"},
    }
}
# Every cache on Redis (the settings chose Redis because REDIS_URL is set), each under this run's prefix.
CACHES = {  # noqa: F405
    alias: {**config, "KEY_PREFIX": f"{_run}_{config.get('KEY_PREFIX', alias)}"}
    for alias, config in CACHES.items()  # noqa: F405
}
