import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()

from config.preflight import refuse_insecure_start  # noqa: E402  (needs the settings)

refuse_insecure_start()

from core.processes import tune_garbage_collector  # noqa: E402

tune_garbage_collector()  # last: everything loaded so far lives as long as the worker
