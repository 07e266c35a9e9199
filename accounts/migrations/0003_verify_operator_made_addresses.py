"""Accounts made before sign-up needed a confirmed address keep logging in.

Sign-up now makes a new account confirm its address before its first log-in
(ACCOUNT_EMAIL_VERIFICATION "mandatory"). Accounts made by operators and staff
(create_organisation, enquiry approval, add_member, the admin) never had an
allauth address record; a record made by sign-up always exists. So an account
with an address and no record was made by an operator: its address is recorded
as verified, as such accounts now are when made. An address another account has
already verified (any case) is left alone.
"""

from django.db import migrations


def verify_operator_made_addresses(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    taken = {e.lower() for e in EmailAddress.objects.filter(verified=True)
             .values_list("email", flat=True)}
    made = []
    for user_id, email in (User.objects.exclude(email="")
                           .filter(emailaddress__isnull=True).values_list("id", "email")):
        if email.lower() in taken:
            continue
        taken.add(email.lower())
        made.append(EmailAddress(user_id=user_id, email=email, verified=True, primary=True))
    EmailAddress.objects.bulk_create(made, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_api_token"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.RunPython(verify_operator_made_addresses, migrations.RunPython.noop),
    ]
