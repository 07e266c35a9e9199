"""accounts 0003: accounts made by operators before mandatory confirmation keep logging in."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0002_api_token"), ("account", "0009_emailaddress_unique_primary_email")]
AFTER = [("accounts", "0003_verify_operator_made_addresses")]


@pytest.mark.django_db(transaction=True)
def test_operator_made_accounts_get_a_verified_address():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    operator_made = User.objects.create(username="ops", email="Ops@example.org")
    signed_up = User.objects.create(username="new", email="new@example.org")
    EmailAddress.objects.create(user=signed_up, email="new@example.org", verified=False,
                                primary=True)
    owner = User.objects.create(username="owner", email="same@example.org")
    EmailAddress.objects.create(user=owner, email="same@example.org", verified=True,
                                primary=True)
    twin = User.objects.create(username="twin", email="SAME@example.org")
    no_address = User.objects.create(username="bare", email="")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    EmailAddress = apps.get_model("account", "EmailAddress")
    got = {(e.user_id, e.email, e.verified) for e in EmailAddress.objects.all()}
    assert got == {(operator_made.pk, "Ops@example.org", True),
                   (signed_up.pk, "new@example.org", False),
                   (owner.pk, "same@example.org", True)}
    assert not EmailAddress.objects.filter(user_id__in=[twin.pk, no_address.pk]).exists()
