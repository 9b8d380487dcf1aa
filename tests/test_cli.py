"""`flask celery-test`: synchronous, through the broker, and with nobody listening."""

from tasks.redis_server import RedisServer


def test_celery_test_runs_the_health_check_here(runner):
    result = runner.invoke(args=["celery-test"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: the health check ran in this process")


def test_celery_test_async_goes_through_a_worker(runner, worker):
    result = runner.invoke(args=["celery-test", "--async", "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert "OK: worker" in result.output and "ran the health check through redis://" in result.output


def test_celery_test_async_without_a_worker_says_how_to_start_one(app_with_broker):
    with RedisServer() as lonely_broker:
        result = app_with_broker(f"{lonely_broker.url}/0").test_cli_runner().invoke(
            args=["celery-test", "--async", "--timeout", "2"])
    assert result.exit_code == 1
    assert "no worker does" in result.output
    assert "celery -A wsgi.celery_app worker" in result.output


def test_celery_test_async_with_the_broker_down_says_so(app_with_broker, dead_broker_url):
    result = app_with_broker(dead_broker_url).test_cli_runner().invoke(
        args=["celery-test", "--async", "--timeout", "2"])
    assert result.exit_code == 1
    assert f"Cannot reach the broker at {dead_broker_url}" in result.output


def test_worker_starts_without_the_broker_connection_retry_warning(worker):
    log = worker.output()
    assert " ready." in log
    assert "broker_connection_retry" not in log and "CPendingDeprecationWarning" not in log


def test_init_db_creates_tables(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "Database schema at revision" in result.output
