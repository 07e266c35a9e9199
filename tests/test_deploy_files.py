"""The deployment files agree with each other: compose, systemd units, nginx."""

import shlex
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def systemd_commands() -> dict[str, list[str]]:
    found = {}
    for unit in (DEPLOY / "systemd").glob("*.service"):
        line = next(row for row in unit.read_text().splitlines()
                    if row.startswith("ExecStart="))
        argv = shlex.split(line.removeprefix("ExecStart="))
        argv[0] = Path(argv[0]).name  # /opt/traptagger/.venv/bin/daphne -> daphne
        found[unit.stem] = argv
    return found


def normalised(argv: list[str]) -> list[str]:
    """The bind address differs by design (loopback on a host, all interfaces in a container)."""
    argv = list(argv)
    for flag in ("-b", "--host"):
        if flag in argv:
            argv[argv.index(flag) + 1] = "ADDRESS"
    return argv


def test_compose_starts_the_same_processes_as_the_systemd_units():
    services = compose()["services"]
    units = systemd_commands()
    pairs = {"traptagger-web": "web1", "traptagger-worker": "worker",
             "traptagger-gpu-worker": "gpu-worker", "traptagger-beat": "beat"}
    assert set(units) == set(pairs)
    for unit, service in pairs.items():
        assert normalised(services[service]["command"]) == normalised(units[unit]), unit
    assert services["web2"]["command"] == services["web1"]["command"]


def test_migrations_run_once_before_any_traptagger_process():
    services = compose()["services"]
    runs_migrate = [name for name, s in services.items()
                    if "migrate" in " ".join(s.get("command", []) or [])]
    assert runs_migrate == ["migrate"]
    for name in ("web1", "web2", "worker", "gpu-worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully", name
        assert services[name]["environment"]["TRAPTAGGER_MODE"] == "production"
    assert {"db", "redis", "s3", "nginx"} <= set(services)


def test_web_health_and_nginx_agree():
    services = compose()["services"]
    assert "/healthz" in " ".join(services["web1"]["healthcheck"]["test"])
    for conf in ("nginx.conf", "nginx-compose.conf"):
        text = (DEPLOY / conf).read_text()
        assert 'proxy_set_header Upgrade $http_upgrade' in text  # websockets
        assert "client_max_body_size" in text and "location /static/" in text
        assert "X-Forwarded-Proto" in text and "X-Forwarded-For" in text
    assert "--proxy-headers" in services["web1"]["command"]
