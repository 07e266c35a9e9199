"""The Content-Security-Policy (django-csp, configured in settings): the same strict policy
on every response: scripts from this site only, no inline script, no eval."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        assert name not in parsed, f"{name} twice in {header!r}"
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api/surveys/",
                                  "/api/no-such-thing/", "/no-such-page/", "/healthz"])
def test_every_response_carries_the_strict_policy(client, path):
    response = client.get(path)
    assert directives(response["Content-Security-Policy"]) == POLICY
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_a_policy_a_view_sets_itself_is_kept(rf, settings):
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse

    own = "default-src 'none'"

    def view(request):
        response = HttpResponse("x")
        response["Content-Security-Policy"] = own
        return response

    response = CSPMiddleware(view)(rf.get("/"))
    assert response["Content-Security-Policy"] == own


def test_images_from_the_media_store_and_configured_origins(tmp_path):
    """Read in a fresh process: the policy is built from the environment at start."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_S3_ENDPOINT_URL", "AWS_STORAGE_BUCKET_NAME", "CSP_IMG_SOURCES")}
    env.update(DJANGO_SETTINGS_MODULE="traptagger.settings",
               TRAPTAGGER_VAR_DIR=str(tmp_path / "var"),
               AWS_S3_ENDPOINT_URL="https://s3.example.org",
               CSP_IMG_SOURCES="https://tiles.example.org")
    probe = ("import django; django.setup(); from csp.utils import build_policy; "
             "print(build_policy())")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    got = directives(result.stdout.strip().splitlines()[-1])
    assert got["img-src"] == ["'self'", "data:", "https://s3.example.org",
                              "https://tiles.example.org"]
    assert got["script-src"] == ["'self'"]
