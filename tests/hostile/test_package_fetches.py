"""A Camtrap DP package that names URLs for what is read: refused, and nothing is fetched.

A real loopback HTTP server stands by and counts requests; it answers every path
with content a reader would accept (a CSV table, a JSON schema or dialect) and a
marker, so that a fetch would both happen and succeed. Every variant must leave
it at 0 requests, and no message may carry the marker.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from results.exceptions import PackageError
from results.services.camtrapdp import PROFILE_URL, SCHEMA_URL
from results.services.camtrapdp_check import check_camtrapdp
from results.services.camtrapdp_import import do_import_camtrapdp
from tests.factories import OrganisationFactory
from tests.results.test_camtrapdp_import import tiny_package

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

MARKER = "FETCHED-BODY-7f3a"


class CountingServer:
    """Loopback HTTP server answering anything: a CSV for .csv, else JSON; counts GETs."""

    def __init__(self):
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                if self.path.endswith(".csv"):
                    body = f"deploymentID,note\n{MARKER},{MARKER}\n".encode()
                    kind = "text/csv"
                else:
                    body = json.dumps({"fields": [{"name": MARKER, "type": "string"}],
                                       "delimiter": ",", "title": MARKER}).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = CountingServer()
    yield running
    running.close()


def _resource(descriptor, name):
    return next(r for r in descriptor["resources"] if r["name"] == name)


def _extra(descriptor, **fields):
    descriptor["resources"].append({"name": "individuals", "data": [{"id": 1}], **fields})


# Each variant edits the tiny package's descriptor (given the server's base URL).
VARIANTS = {
    "table path URL": lambda d, u: _resource(d, "media").update(path=f"{u}/media.csv"),
    "table path scheme-relative": lambda d, u: _resource(d, "media").update(
        path=u.replace("http:", "") + "/media.csv"),
    "table path file URL": lambda d, u: _resource(d, "media").update(path="file:///etc/passwd"),
    "multipart path with a URL": lambda d, u: _resource(d, "deployments").update(
        path=["deployments.csv", f"{u}/more.csv"]),
    "table dialect URL": lambda d, u: _resource(d, "observations").update(
        dialect=f"{u}/dialect.json"),
    "table schema URL": lambda d, u: _resource(d, "observations").update(
        schema=f"{u}/observations-table-schema.json"),
    "table schema $ref": lambda d, u: _resource(d, "observations").update(
        schema={"$ref": f"{u}/schema.json"}),
    "package profile URL": lambda d, u: d.update(profile=f"{u}/camtrap-dp-profile.json"),
    "package $schema URL": lambda d, u: d.update({"$schema": f"{u}/profile.json"}),
    "package $ref": lambda d, u: d["project"].update({"$ref": f"{u}/project.json"}),
    "extra resource path URL": lambda d, u: d["resources"].append(
        {"name": "individuals", "path": f"{u}/individuals.csv"}),
    "extra resource multipart URL": lambda d, u: d["resources"].append(
        {"name": "individuals", "path": ["a.csv", f"{u}/b.csv"]}),
    "extra resource dialect URL": lambda d, u: _extra(d, dialect=f"{u}/dialect.json"),
    "extra resource schema URL": lambda d, u: _extra(d, schema=f"{u}/schema.json"),
    "extra resource profile URL": lambda d, u: _extra(d, profile=f"{u}/profile.json"),
    "extra resource $schema URL": lambda d, u: _extra(d, **{"$schema": f"{u}/profile.json"}),
    "extra resource schema $ref": lambda d, u: _extra(
        d, schema={"fields": [{"name": "id", "type": "integer"}], "$ref": f"{u}/s.json"}),
    "resource named by URL": lambda d, u: d["resources"].append(f"{u}/resource.json"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_variant_fetches_anything(tmp_path, server, media_storage, variant):
    package = tiny_package(tmp_path / "pkg")
    descriptor = json.loads((package / "datapackage.json").read_text())
    VARIANTS[variant](descriptor, server.url)
    (package / "datapackage.json").write_text(json.dumps(descriptor))

    problems = check_camtrapdp(package)
    assert problems, variant
    with pytest.raises(PackageError) as refused:
        do_import_camtrapdp(OrganisationFactory(), "Fetch", package)
    message = str(refused.value)
    assert server.requests == [], (variant, server.requests)
    assert MARKER not in message and MARKER not in "\n".join(problems)
    assert "datapackage.json" in message and "nothing was imported" in message.lower()


def test_a_local_profile_that_refers_to_a_url_is_not_followed(tmp_path, server,
                                                              media_storage):
    """A file inside the package may name the network too: it is never handed on."""
    package = tiny_package(tmp_path / "pkg")
    (package / "profile.json").write_text(json.dumps({"$ref": f"{server.url}/p.json"}))
    (package / "dialect.json").write_text(json.dumps({"$ref": f"{server.url}/d.json"}))
    descriptor = json.loads((package / "datapackage.json").read_text())
    _extra(descriptor, profile="profile.json", dialect="dialect.json")
    (package / "datapackage.json").write_text(json.dumps(descriptor))
    assert check_camtrapdp(package) == []
    do_import_camtrapdp(OrganisationFactory(), "Fetch", package)
    assert server.requests == []


@pytest.mark.parametrize("path", ["/etc/hosts", "../outside.csv", "media/../../outside.csv",
                                  "~/media.csv", "C:/data/media.csv", "\\\\host\\share\\m.csv"])
def test_a_table_path_outside_the_package_is_refused(tmp_path, media_storage, path):
    (tmp_path / "outside.csv").write_text("secret\n")
    package = tiny_package(tmp_path / "pkg")
    descriptor = json.loads((package / "datapackage.json").read_text())
    _resource(descriptor, "media")["path"] = path
    (package / "datapackage.json").write_text(json.dumps(descriptor))
    with pytest.raises(PackageError, match=r"resources/1 \(media\)/path: .*(outside|URL)"):
        do_import_camtrapdp(OrganisationFactory(), "Fetch", package)


def test_a_table_linked_out_of_the_package_is_refused(tmp_path, media_storage):
    package = tiny_package(tmp_path / "pkg")
    (tmp_path / "elsewhere.csv").write_bytes((package / "media.csv").read_bytes())
    (package / "media.csv").unlink()
    (package / "media.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(PackageError, match=r"media\)/path: 'media.csv' is a link to a file "
                                           "outside the package"):
        do_import_camtrapdp(OrganisationFactory(), "Fetch", package)


def test_the_published_profile_and_schema_urls_name_the_shipped_copies(tmp_path, server,
                                                                       media_storage):
    package = tiny_package(tmp_path / "pkg")
    descriptor = json.loads((package / "datapackage.json").read_text())
    assert descriptor["profile"] == PROFILE_URL
    assert _resource(descriptor, "media")["schema"] == SCHEMA_URL.format(name="media")
    result = do_import_camtrapdp(OrganisationFactory(), "Fetch", package)
    assert result["media"] == 3 and server.requests == []
