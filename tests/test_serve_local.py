"""`make run` (serve_local) says "Serving" only when it serves, and stops promptly."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from demo.management.commands.serve_local import stop_all, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent


def _listening():
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    with _listening() as held:
        port = held.getsockname()[1]
        with pytest.raises(CommandError, match=rf"Cannot serve on 127.0.0.1:{port}: .*"
                                               rf"make run PORT={port + 1}"):
            call_command("serve_local", port=port)
    assert not (tmp_path / "logs").exists()  # no worker, beat or server was started


def test_make_run_on_a_busy_port_exits_non_zero_with_the_reason():
    with _listening() as held:
        port = held.getsockname()[1]
        result = subprocess.run([sys.executable, "manage.py", "serve_local", "--port",
                                 str(port)], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode != 0
    assert f"Cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Serving on" not in result.stdout


def test_a_server_that_stops_at_start_is_reported_with_its_log_line(tmp_path):
    log = tmp_path / "daphne.log"
    log.write_text("Starting server\nCRITICAL Listen failure: Couldn't listen on 127.0.0.1:80: "
                   "[Errno 98] Address already in use.\n")
    server = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(1)"])
    with pytest.raises(CommandError, match="stopped at start .*Address already in use"):
        wait_until_serving(server, "127.0.0.1", 9, log, seconds=30)


def test_serving_is_said_once_the_port_answers(tmp_path):
    port_file = tmp_path / "port"
    server = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys, time\n"
        "time.sleep(1)\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        f"open({str(port_file)!r}, 'w').write(str(s.getsockname()[1]))\n"
        "time.sleep(30)\n")])
    try:
        while not port_file.exists() or not port_file.read_text():
            assert server.poll() is None
            time.sleep(0.05)
        wait_until_serving(server, "127.0.0.1", int(port_file.read_text()), tmp_path / "x.log")
    finally:
        server.kill()
        server.wait()


def test_stop_all_kills_what_ignores_sigterm():
    stubborn = subprocess.Popen([sys.executable, "-c", (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stubborn.stdout.readline().strip() == "ready"
    stop_all([stubborn, polite], seconds=1)
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_server_and_every_process_it_started(tmp_path):
    from tests.conftest import free_port, subprocess_env

    port = free_port()
    env = subprocess_env({"TRAPTAGGER_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "",
                          "REDIS_URL": ""})
    env.pop("CELERY_BROKER_URL")
    env.pop("REDIS_URL")
    serve = subprocess.Popen([sys.executable, "manage.py", "serve_local", "--port", str(port)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in serve.stdout:
            lines.append(line)
            if "Serving on" in line:
                break
        assert any("Serving on" in line for line in lines), "".join(lines)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # it does serve
        pids = [int(line.split("(pid ")[1].split(")")[0]) for line in lines if "(pid " in line]
        assert len(pids) == 3  # worker, beat, daphne
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        for pid in pids:  # none left behind
            with pytest.raises(ProcessLookupError):
                import os

                os.kill(pid, 0)
    finally:
        if serve.poll() is None:
            import os

            os.killpg(serve.pid, signal.SIGKILL)
