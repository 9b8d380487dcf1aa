"""The health check task runs in-process and through a real worker."""

from tasks.health import health_check_task


def test_health_check_runs_synchronously(app):
    with app.app_context():
        result = health_check_task.apply().result
    assert result["status"] == "ok"


def test_health_check_runs_on_a_worker(app, worker):
    with app.app_context():
        result = health_check_task.delay().get(timeout=20)
    assert result["status"] == "ok"


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
