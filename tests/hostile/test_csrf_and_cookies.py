"""Forged cross-site posts are refused; production cookies are secure and HTTP-only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import Invitation
from tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.hostile
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_posts_without_the_csrf_token_are_refused():
    org = OrganisationFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(org, "admin"))
    response = client.post("/admin/accounts/invitation/add/", {
        "organisation": org.pk, "username": "", "email": "x@example.org", "role": "annotator"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"login": "a", "password": "b"}).status_code == 403


def test_production_cookies_are_secure_and_http_only(tmp_path):
    probe = ("import json, django; django.setup(); from django.conf import settings as s; "
             "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
             "s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
             "s.X_FRAME_OPTIONS]))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(TRAPTAGGER_MODE="production", ALLOWED_HOSTS="tt.example.org",
               SECRET_KEY="kV3r9-Qz8LmN2pXw7TyB4hJd6FsA1cGe0UoIiRtY5nMbZ_w8Ee2Rr4Tt",
               TRAPTAGGER_VAR_DIR=str(tmp_path / "var"),
               DJANGO_SETTINGS_MODULE="traptagger.settings")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    secure, csrf_secure, http_only, hsts, redirect, frames = json.loads(
        result.stdout.strip().splitlines()[-1])
    assert secure and csrf_secure and http_only and redirect
    assert hsts >= 180 * 24 * 3600
    assert frames == "DENY"
