import os
import shutil

import pytest

# Playwright's sync API runs an asyncio loop in the test thread; without this Django raises
# SynchronousOnlyOperation in pytest-django's database set-up and in ORM calls. It is process-wide, which is
# why `./run test` runs this folder in its own pytest process.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError(f"CI=true but Chromium is missing at {CHROMIUM}: browser tests cannot be skipped in CI.")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium instead of a downloaded one (`playwright install` cannot download here).
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server):
    return live_server.url


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    # A file database, as the product runs, instead of the default in-memory one. With an in-memory SQLite database
    # Django hands every live-server thread the test thread's single connection, so a request still streaming from an
    # earlier test (a chat's server-sent events) shares transaction state with the next test's requests; a CI run saw
    # a form POST never answered that way. With a file each thread has its own connection (WAL, IMMEDIATE, timeout).
    from django.db import connections

    test_settings = connections["default"].settings_dict.setdefault("TEST", {})
    test_settings["NAME"] = str(tmp_path_factory.mktemp("e2e-db") / "test.sqlite3")
