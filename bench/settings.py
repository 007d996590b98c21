"""Bench-only settings: the product's settings plus the reference views (bench.refapp) and their URLs.

Only the bench servers use this module; the product's URL conf never contains the reference views.
Everything else (database, workers, allowlist) comes from the environment exactly as in production.
"""

from imagegen_site.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.refapp"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
