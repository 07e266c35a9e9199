"""Settings in the embedded and the production mode, read in fresh processes."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'db_name': str(s.DATABASES['default']['NAME']), 'debug': s.DEBUG, "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'broker': s.CELERY_BROKER_URL, "
    "'storage': s.STORAGES['default']['BACKEND'], 'media': str(s.MEDIA_ROOT), "
    "'hosts': s.ALLOWED_HOSTS, 'key': s.SECRET_KEY, 'shared': s.CHANNEL_LAYER_SHARED}))"
)
STRONG_KEY = "kV3r9-Qz8LmN2pXw7TyB4hJd6FsA1cGe0UoIiRtY5nMbZ_w8Ee2Rr4Tt"
OVERRIDES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "SECRET_KEY",
             "ALLOWED_HOSTS", "TRAPTAGGER_MODE", "DEBUG", "AWS_STORAGE_BUCKET_NAME")


needs_mysql_driver = pytest.mark.skipif(
    importlib.util.find_spec("MySQLdb") is None,
    reason="mysqlclient is not installed (requirements/mysql.txt)")


def probe(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env["TRAPTAGGER_VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "traptagger.settings"
    env.update(env_vars)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    return result


def test_embedded_defaults_need_no_service(tmp_path):
    result = probe(tmp_path)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["db_name"] == str(tmp_path / "var" / "db.sqlite3")
    assert got["layer"] == "channels.layers.InMemoryChannelLayer"
    assert got["shared"] is False
    assert got["broker"].startswith("filesystem://")
    assert got["storage"] == "django.core.files.storage.FileSystemStorage"
    assert got["media"] == str(tmp_path / "var" / "media")
    assert got["debug"] is False
    # The secret key is generated once, kept under var/ and reused.
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip() == got["key"]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    again = json.loads(probe(tmp_path).stdout.strip().splitlines()[-1])
    assert again["key"] == got["key"]


def test_each_default_can_be_overridden_alone(tmp_path):
    result = probe(tmp_path, REDIS_URL="redis://127.0.0.1:6379/5")
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["layer"] == "channels_redis.core.RedisChannelLayer"
    assert got["broker"] == "redis://127.0.0.1:6379/5"
    assert got["engine"] == "django.db.backends.sqlite3"  # untouched

    got = json.loads(probe(tmp_path, CELERY_BROKER_URL="amqp://guest@127.0.0.1//",
                           MEDIA_ROOT=str(tmp_path / "m2")).stdout.strip().splitlines()[-1])
    assert got["broker"] == "amqp://guest@127.0.0.1//"
    assert got["layer"] == "channels.layers.InMemoryChannelLayer"
    assert got["media"] == str(tmp_path / "m2")

    got = json.loads(probe(tmp_path, AWS_STORAGE_BUCKET_NAME="photos")
                     .stdout.strip().splitlines()[-1])
    assert got["storage"] == "storages.backends.s3.S3Storage"


@needs_mysql_driver
def test_database_url_alone_switches_to_mysql(tmp_path):
    result = probe(tmp_path, DATABASE_URL="mysql://root@127.0.0.1:3306/other")
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["engine"] == "django.db.backends.mysql"
    assert got["db_name"] == "other"


def test_mysql_without_its_driver_says_what_to_install(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "MySQLdb.py").write_text("raise ImportError('mysqlclient is not installed')\n")
    result = probe(tmp_path, DATABASE_URL="mysql://root@127.0.0.1:3306/other",
                   PYTHONPATH=str(hide))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL names MySQL" in last and "requirements/mysql.txt" in last


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", ALLOWED_HOSTS="tt.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_refuses_to_start_without_allowed_hosts(tmp_path):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


@needs_mysql_driver
def test_production_reads_everything_from_the_environment(tmp_path):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", SECRET_KEY=STRONG_KEY,
                   ALLOWED_HOSTS="tt.example.org,www.tt.example.org",
                   DATABASE_URL="mysql://tt:pw@db.internal:3306/traptagger",
                   REDIS_URL="redis://127.0.0.1:6379/1")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["key"] == STRONG_KEY
    assert got["hosts"] == ["tt.example.org", "www.tt.example.org"]
    assert got["engine"] == "django.db.backends.mysql"
    assert got["debug"] is False


def test_unknown_mode_is_refused(tmp_path):
    result = probe(tmp_path, TRAPTAGGER_MODE="staging")
    assert result.returncode != 0
    assert "TRAPTAGGER_MODE must be" in result.stderr


@pytest.mark.hostile
@pytest.mark.parametrize("key", [
    "changeme", "change-me-to-a-long-random-string-please-now", "k" * 60,
    "django-insecure-" + "ab12cd34ef56" * 4,
    "0123456789" * 6,                                       # sequential, repeated
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",  # 62 distinct
    "qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM1234567890",  # keyboard rows
    "zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUTSRQPONMLKJIH",      # backwards
    "Tr0ub4dor&3" * 5,                                      # a password, repeated
])
def test_production_refuses_a_weak_secret_key(tmp_path, key):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", SECRET_KEY=key,
                   ALLOWED_HOSTS="tt.example.org")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "SECRET_KEY is too weak" in last and "SECRET_KEY_MIN_BITS=128" in last
    assert "secrets.token_urlsafe(50)" in last and key not in last


def test_key_strength_estimates():
    import secrets

    from traptagger.key_strength import estimated_bits

    assert estimated_bits("0123456789" * 5) < 30  # Shannon × length would say 166
    assert estimated_bits("k" * 60) < 20
    assert estimated_bits("ab12cd34ef56" * 4) < 100
    assert min(estimated_bits(secrets.token_urlsafe(50)) for _ in range(200)) > 300
    assert min(estimated_bits(secrets.token_hex(32)) for _ in range(200)) > 200
    assert estimated_bits(STRONG_KEY) > 300


@pytest.mark.hostile
@pytest.mark.parametrize("debug", ["true", "1", "on"])
def test_production_refuses_debug(tmp_path, debug):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", SECRET_KEY=STRONG_KEY,
                   ALLOWED_HOSTS="tt.example.org", DEBUG=debug)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "DEBUG is on in production mode" in last and "DEBUG=false" in last


def test_embedded_mode_may_debug(tmp_path):
    result = probe(tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["debug"] is True


@pytest.mark.parametrize("hosts", ["*", "tt.example.org,*", "*.example.org"])
def test_production_refuses_a_wildcard_host(tmp_path, hosts):
    result = probe(tmp_path, TRAPTAGGER_MODE="production", SECRET_KEY=STRONG_KEY,
                   ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "wildcard" in result.stderr.strip().splitlines()[-1]


def test_check_deploy_is_clean_with_the_documented_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env.update(TRAPTAGGER_VAR_DIR=str(tmp_path / "var"), TRAPTAGGER_MODE="production",
               SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="tt.example.org",
               CSRF_TRUSTED_ORIGINS="https://tt.example.org")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level",
                             "WARNING"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


MAIL_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ('EMAIL_BACKEND', 'EMAIL_HOST', "
    "'EMAIL_PORT', 'EMAIL_HOST_USER', 'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', "
    "'EMAIL_USE_SSL', 'EMAIL_URL_PROBLEM', 'ACCOUNT_EMAIL_VERIFICATION')}))"
)


def mail_settings(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in (*OVERRIDES, "EMAIL_URL",
                                                          "EMAIL_BACKEND")}
    env.update(TRAPTAGGER_VAR_DIR=str(tmp_path / "var"),
               DJANGO_SETTINGS_MODULE="traptagger.settings", **env_vars)
    result = subprocess.run([sys.executable, "-c", MAIL_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mail_comes_from_one_email_url(tmp_path):
    got = mail_settings(tmp_path)
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert got["EMAIL_URL_PROBLEM"] is None
    assert got["ACCOUNT_EMAIL_VERIFICATION"] == "mandatory"
    got = mail_settings(
        tmp_path, EMAIL_URL="smtp+tls://tt%40example.org:p%40ss@mail.example.org:587")
    assert got == {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                   "EMAIL_HOST": "mail.example.org", "EMAIL_PORT": 587,
                   "EMAIL_HOST_USER": "tt@example.org", "EMAIL_HOST_PASSWORD": "p@ss",
                   "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False, "EMAIL_URL_PROBLEM": None,
                   "ACCOUNT_EMAIL_VERIFICATION": "mandatory"}
    got = mail_settings(tmp_path, EMAIL_URL="smtp+ssl://u:pw@mail.example.org:465")
    assert (got["EMAIL_USE_SSL"], got["EMAIL_USE_TLS"], got["EMAIL_PORT"]) == (True, False, 465)


def test_email_url_is_documented_in_env_example():
    text = (ROOT / "deploy" / "env.example").read_text()
    assert "EMAIL_URL=smtp+tls://" in text
