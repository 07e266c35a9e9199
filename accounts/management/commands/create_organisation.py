from django.core.management.base import BaseCommand, CommandError

from accounts.exceptions import AccountsError
from accounts.services.organisations import do_create_organisation


class Command(BaseCommand):
    help = "Create an organisation with its first admin and print the generated password."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The organisation's name.")
        parser.add_argument("--admin", required=True, help="Username of the first admin.")
        parser.add_argument("--email", required=True, help="Email of the first admin.")

    def handle(self, *args, name, admin, email, **options):
        try:
            new = do_create_organisation(name, admin_username=admin, admin_email=email)
        except AccountsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Created organisation “{new.organisation.name}” (id {new.organisation.pk}).\n"
            f"Admin username: {new.user.username}\nAdmin password: {new.password}\n"
        )
