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
    if "-b" in argv:
        argv[argv.index("-b") + 1] = "ADDRESS"
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
    for conf in ("nginx.conf", "nginx-compose.conf", "nginx-compose-tls.conf"):
        text = (DEPLOY / conf).read_text()
        assert 'proxy_set_header Upgrade $http_upgrade' in text  # websockets
        assert "client_max_body_size" in text and "location /static/" in text
        assert "X-Forwarded-Proto" in text and "X-Forwarded-For" in text
    assert "--proxy-headers" in services["web1"]["command"]


def test_compose_profiles_serve_https_with_a_certificate_made_at_first_start(tmp_path):
    from django.core.management import call_command

    services = compose()["services"]
    profiles = {name: s.get("profiles", []) for name, s in services.items()}
    assert profiles["nginx"] == ["http"] and profiles["nginx-tls"] == ["tls"]
    assert profiles["tls-certificate"] == ["tls"]
    env = (DEPLOY / "env.example").read_text()
    assert "\nCOMPOSE_PROFILES=tls\n" in env
    tls = services["nginx-tls"]
    assert tls["depends_on"]["tls-certificate"]["condition"] == "service_completed_successfully"
    assert "443:443" in tls["ports"]
    mounted = {v.split(":")[1] for v in tls["volumes"]}
    assert "/etc/nginx/templates/default.conf.template" in mounted  # the image fills it in
    # The one-shot's command is a real command that makes what nginx-tls reads.
    argv = services["tls-certificate"]["command"]
    assert argv[:3] == ["python", "manage.py", "make_tls_certificate"]
    args = [a.replace("/tls/", f"{tmp_path}/").replace("${TRAPTAGGER_DOMAIN:-localhost}",
                                                         "localhost") for a in argv[3:]]
    call_command("make_tls_certificate", *args)
    for name in ("TLS_CERTIFICATE", "TLS_CERTIFICATE_KEY"):
        path = tls["environment"][name].replace("/tls/", f"{tmp_path}/")
        assert Path(path).read_bytes().startswith(b"-----BEGIN")
