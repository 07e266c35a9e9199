#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")
    from django.core.management import execute_from_command_line

    from core.text import BadText, check_text

    # An argument whose bytes are not UTF-8 (a survey or folder name) reaches
    # Python with surrogates in it; refuse it here, not at the database write.
    try:
        for number, argument in enumerate(sys.argv[1:], start=1):
            check_text(argument, f"argument {number} ({argument!r})")
    except BadText as exc:
        sys.exit(f"{exc} Rename the file or folder, or give the name in UTF-8.")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
