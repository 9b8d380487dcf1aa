"""gunicorn settings, read from the environment (Procfile and run.py use this file)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let one worker keep serving progress polls while another request is
# still receiving a large upload.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A 1 GB recording over a slow link takes minutes to arrive; the worker must not
# be killed for it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "900"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None
errorlog = "-"
# Recent gunicorn (27) opens a control socket at one fixed path per user; two apps (or a test
# beside a running app) on one host would fight over it, and nothing here uses it.
control_socket_disable = True
