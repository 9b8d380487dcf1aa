"""Everything Celery: the app wiring and the task modules."""
