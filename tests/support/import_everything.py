"""Import every module of the project and build every management command's parser.

Run by ``tests/deploy/test_production_install.py`` with the Python of a virtualenv made from
``requirements/base.txt`` (and ``detector.txt``) alone, as ``deploy/Dockerfile`` installs: a
run-time import of a package that only the development requirements bring fails here.
Imports made inside functions are found by reading each module and imported too.
Prints one JSON object: {"modules": N, "commands": N, "failures": ["name: error", ...]}.
"""

import ast
import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")


def project_modules() -> list[str]:
    names = []
    for package in sorted(p for p in ROOT.iterdir() if (p / "__init__.py").is_file()):
        if package.name == "tests":
            continue
        for path in sorted(package.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


# Imported only where its own requirements file is installed too.
OPTIONAL = {"MySQLdb": "requirements/mysql.txt (only for a mysql:// DATABASE_URL)"}


def third_party_imports(modules: list[str]) -> dict[str, str]:
    """Every imported module outside the standard library and the project, including imports
    inside functions (which importing the module does not run), with one file that does it."""
    project = {name.split(".")[0] for name in modules}
    found = {}
    for name in modules:
        path = ROOT.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module]
            else:
                continue
            for module in imported:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in project:
                    found.setdefault(module, str(path.relative_to(ROOT)))
    return found


def main() -> None:
    import django

    django.setup()
    from django.core.management import get_commands, load_command_class

    failures = []
    modules = project_modules()
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    for module, where in sorted(third_party_imports(modules).items()):
        if module.split(".")[0] in OPTIONAL:
            continue
        try:
            importlib.import_module(module)
        except BaseException as exc:  # noqa: BLE001
            failures.append(f"{module} (imported in {where}): {type(exc).__name__}: {exc}")
    commands = get_commands()
    for name, app in sorted(commands.items()):
        try:
            load_command_class(app, name).create_parser("manage.py", name).format_help()
        except BaseException as exc:  # noqa: BLE001
            failures.append(f"manage.py {name} --help: {type(exc).__name__}: {exc}")
    print(json.dumps({"modules": len(modules), "commands": len(commands),
                      "failures": failures}))


if __name__ == "__main__":
    main()
