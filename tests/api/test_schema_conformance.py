"""Property-based requests (schemathesis) against the running app: every answer matches
the API's own OpenAPI schema, and nothing is a server error."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.services.api_tokens import do_create_api_token
from accounts.taxonomy import Role
from tests.accounts.test_admin_scoping import make_world
from tests.factories import OrganisationFactory, member

# Read from the app itself (the schema view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def _keep_test_connection():
    """Requests go straight to the WSGI app, which closes the database connection after
    each one; the test's transaction needs it open (Django's test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(db, settings, tmp_path, _keep_test_connection):
    settings.API_RATE_LIMIT = "100000/min"
    settings.IMPORT_ROOT = str(tmp_path)
    org = OrganisationFactory(name="Schema Org")
    make_world(org, "S")
    user = member(org, Role.ADMIN, username="schema-admin")
    return do_create_api_token(user, "schemathesis", acting_user=user)[1]


@schema.parametrize()
@hypothesis_settings(max_examples=15, deadline=None,
                     suppress_health_check=list(HealthCheck))
def test_api_answers_match_its_schema(case, api_key):
    response = case.call(headers={"Authorization": f"Token {api_key}"})
    # Two probes are left out. ignored_auth: our valid key rides on every request, so it
    # cannot tell (tests/api/test_api.py checks bad and revoked keys directly).
    # positive_data_acceptance: it wants every schema-valid request accepted, but a
    # schema cannot say "an id of your organisation", "a folder that exists" or "a cursor
    # this API handed out"; those are refused with 400/404 and a message, as they should.
    # Everything else runs: no server errors, documented status codes and content types,
    # responses matching their schemas, schema-invalid requests refused.
    case.validate_response(response, excluded_checks=[
        schemathesis.checks.ignored_auth, schemathesis.checks.positive_data_acceptance])
