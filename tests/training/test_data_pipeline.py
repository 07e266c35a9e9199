"""The data pipeline from a local folder and a loopback HTTP server; SSRF refusals; bad CSVs."""

import io
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from annotation.models import ClusterAnnotation, Task
from core.fetch import Fetcher, FetchRefused, address_problem, system_resolver
from surveys.models import Image, Site, Survey
from tests.factories import OrganisationFactory
from training.exceptions import PipelineError
from training.services.data_pipeline import do_run_data_pipeline
from training.synthetic import jpeg_bytes

pytestmark = pytest.mark.django_db


def picture(n: int) -> bytes:
    img = PILImage.new("RGB", (64, 48), (n * 20 % 256, 100, 200 - n * 10 % 200))
    return jpeg_bytes(img, datetime(2023, 5, 1, 8, n))


FILES = {f"SiteA/cam1/{i}.jpg": picture(i) for i in range(3)} | {
    f"SiteB/cam2/{i}.JPG": picture(i) for i in range(10, 12)}
CSV = "\ufefffilepath,species\n" + "\n".join([
    "SiteA/cam1/0.jpg,Zebra",         # 2
    "SiteA/cam1/1.jpg,zebra",         # 3: same class, one label
    "SiteA/cam1/2.jpg,Unknown",       # 4: dropped
    "SiteB/cam2/10.JPG,Lion",         # 5
    "SiteB/cam2/11.JPG,Lion",         # 6: multi-label (7) → both dropped
    "SiteB/cam2/11.JPG,Zebra",        # 7
    "../secrets/x.jpg,Lion",          # 8: bad row
    "SiteB/cam2/missing.jpg,Lion",    # 9: bad row, no such file
    "SiteA/blurry/9.jpg,Lion",        # 10: excluded folder
    ",human",                         # 11: bad row (empty path)
]) + "\n"


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


@pytest.fixture
def import_area(tmp_path, settings):
    org = OrganisationFactory()
    settings.IMPORT_ROOT = str(tmp_path / "imports")
    folder = tmp_path / "imports" / str(org.pk) / "dataset"
    for rel, data in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return org, folder


def check_imported(org, outcome):
    survey = Survey.objects.get(organisation=org, name="Outside")
    assert outcome.imported == 3
    assert sorted(line for line, _why in outcome.problems) == [8, 9, 11]
    assert "'..'" in dict(outcome.problems)[8]
    assert sorted(line for line, _why in outcome.dropped) == [4, 6, 7, 10]
    task = Task.objects.get(survey=survey, name="Data pipeline")
    assert task.status == "finished"
    labels = sorted((a.cluster.images.get().filename, [lab.name for lab in a.labels.all()])
                    for a in ClusterAnnotation.objects.filter(task=task))
    assert labels == [("0.jpg", ["Zebra"]), ("1.jpg", ["Zebra"]), ("10.JPG", ["Lion"])]
    assert sorted(Site.objects.filter(survey=survey).values_list("name", flat=True)) == \
        ["SiteA", "SiteB"]
    image = Image.objects.get(camera__site__survey=survey, filename="10.JPG")
    assert image.camera.path == "SiteB/cam2" and image.cluster.image_count == 1
    assert default_storage.open(image.key).read() == FILES["SiteB/cam2/10.JPG"]
    assert survey.status == "ready" and survey.image_count == 3
    return survey


def test_command_from_a_local_folder_in_the_import_area(import_area, csv_file):
    org, _folder = import_area
    out, err = io.StringIO(), io.StringIO()
    call_command("data_pipeline", "--org", org.name, "--survey", "Outside", "--csv",
                 str(csv_file), "--source", "dataset", "--exclude", "BLURRY",
                 "--site-regex", r"^Site[AB]", stdout=out, stderr=err)
    assert "Imported 3 labelled image(s)" in out.getvalue(), err.getvalue()
    assert "4 row(s) dropped, 3 bad row(s)" in out.getvalue()
    assert "labels.csv line 8:" in err.getvalue() and "[####" in err.getvalue()  # the bar
    # A second run adds nothing.
    call_command("data_pipeline", "--org", org.name, "--survey", "Outside", "--csv",
                 str(csv_file), "--source", "dataset", "--site-regex", r"^Site[AB]",
                 stdout=out, stderr=io.StringIO())
    assert Image.objects.filter(camera__site__survey__name="Outside").count() == 3
    assert ClusterAnnotation.objects.filter(task__name="Data pipeline").count() == 3


def test_service_from_a_local_folder(import_area, csv_file):
    org, folder = import_area
    outcome = do_run_data_pipeline(org, "Outside", csv_file, source=str(folder),
                                   excludes=["blurry"], site_regex=r"^Site[AB]")
    check_imported(org, outcome)


class Server:
    """A loopback HTTP server: ``routes`` path -> (status, headers, body)."""

    def __init__(self):
        self.routes = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    if value is not None:
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings):
    settings.FETCH_ALLOWED_HOSTS = ["localhost"]
    running = Server()
    for rel, data in FILES.items():
        running.routes[f"/data/{rel}"] = (200, {}, data)
    yield running
    running.close()


def loopback_resolver(host, port):
    """localhost is 127.0.0.1 here whatever /etc/hosts says; private.example is private."""
    return {"localhost": ["127.0.0.1"], "private.example": ["10.1.2.3"]}.get(
        host) or system_resolver(host, port)


@pytest.mark.hostile
def test_from_a_loopback_http_server_with_ssrf_rows(server, csv_file):
    org = OrganisationFactory()
    # Row 9's file redirects to 127.0.0.1 (a name not allowed), and another row's to a
    # name that resolves to a private address: both refused, the other rows imported.
    server.routes["/data/SiteB/cam2/missing.jpg"] = (
        302, {"Location": f"http://127.0.0.1:{server.port}/data/SiteB/cam2/10.JPG"}, b"")
    text = csv_file.read_text(encoding="utf-8") + "SiteB/cam2/private.jpg,Lion\n"
    csv_file.write_text(text, encoding="utf-8")
    server.routes["/data/SiteB/cam2/private.jpg"] = (
        301, {"Location": "http://private.example/x.jpg"}, b"")
    outcome = do_run_data_pipeline(
        org, "Outside", csv_file, base_url=f"http://localhost:{server.port}/data",
        excludes=["blurry"], site_regex=r"^Site[AB]", fetcher=Fetcher(resolver=loopback_resolver))
    problems = dict(outcome.problems)
    assert "127.0.0.1 is a loopback address" in problems[9]
    assert "10.1.2.3 is a private address" in problems[12]
    outcome.problems = [p for p in outcome.problems if p[0] != 12]
    check_imported(org, outcome)


@pytest.mark.hostile
def test_a_private_or_loopback_base_url_is_fatal_and_stores_nothing(csv_file, settings):
    org = OrganisationFactory()
    settings.FETCH_ALLOWED_HOSTS = []
    for url in ("http://127.0.0.1:9/data", "http://[::ffff:127.0.0.1]/", "http://[::1]/",
                "http://169.254.169.254/latest", "ftp://example.org/", "file:///etc/"):
        with pytest.raises(PipelineError, match="Nothing was imported|http and https"):
            do_run_data_pipeline(org, "Outside", csv_file, base_url=url)
    assert not Survey.objects.exists()


@pytest.mark.hostile
def test_a_source_outside_the_import_area_is_refused(import_area, csv_file, tmp_path):
    org, _folder = import_area
    other = OrganisationFactory()
    for source in ("../x", str(tmp_path), str(tmp_path / "imports" / str(other.pk))):
        with pytest.raises(CommandError, match="import area|'\\.\\.'"):
            call_command("data_pipeline", "--org", org.name, "--survey", "Outside",
                         "--csv", str(csv_file), "--source", source)
    assert not Survey.objects.exists()


@pytest.mark.hostile
@pytest.mark.parametrize("text, message", [
    ("path,label\nA/1.jpg,Zebra\n", "missing column(s) filepath, species"),
    ("\ufefffilepath,kind\nA/1.jpg,Zebra\n", "missing column(s) species"),
    ("filepath,species\nA/1.jpg,unknown\nA/2.jpg,None\nA/3.jpg,\n", "line 2: species"),
    ("filepath,species\n../../etc/passwd.jpg,Zebra\n", "line 2: the filepath"),
    ("filepath,species\nA/1.jpg,=cmd()\n", "spreadsheets run"),
])
def test_bad_csvs_are_fatal_and_change_nothing(import_area, tmp_path, text, message):
    org, _folder = import_area
    survey_count = Survey.objects.count()
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("data_pipeline", "--org", org.name, "--survey", "Outside", "--csv",
                     str(path), "--source", "dataset")
    assert message in str(caught.value)
    assert Survey.objects.count() == survey_count
    assert not default_storage.exists("surveys")


def test_a_bom_is_tolerated_and_the_header_may_differ_in_case(import_area, tmp_path):
    org, _folder = import_area
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffFilePath , Species\nSiteA/cam1/0.jpg, Zebra \n".encode())
    outcome = do_run_data_pipeline(org, "Outside", path, source="dataset")
    assert outcome.imported == 1 and not outcome.problems
    assert Site.objects.get(survey__name="Outside").name == "Data pipeline"


@pytest.mark.hostile
def test_fetcher_refuses_what_it_must(server):
    allowed = Fetcher(resolver=loopback_resolver)
    assert allowed.fetch(f"http://localhost:{server.port}/data/SiteA/cam1/0.jpg") == \
        FILES["SiteA/cam1/0.jpg"]
    # The same server under its address, which is not an allowed name.
    with pytest.raises(FetchRefused, match="loopback"):
        allowed.fetch(f"http://127.0.0.1:{server.port}/data/SiteA/cam1/0.jpg")
    server.routes["/hop"] = (307, {"Location": f"http://127.0.0.1:{server.port}/x"}, b"")
    with pytest.raises(FetchRefused, match="loopback"):
        allowed.fetch(f"http://localhost:{server.port}/hop")
    with pytest.raises(FetchRefused, match="private"):
        allowed.fetch("http://private.example/x.jpg")
    server.routes["/big"] = (200, {}, b"x" * 5000)
    with pytest.raises(FetchRefused, match="limit"):
        Fetcher(resolver=loopback_resolver, max_bytes=4000).fetch(
            f"http://localhost:{server.port}/big")
    server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(FetchRefused, match="redirects"):
        allowed.fetch(f"http://localhost:{server.port}/loop")
    with pytest.raises(FetchRefused, match="HTTP 404"):
        allowed.fetch(f"http://localhost:{server.port}/nothing")


@pytest.mark.hostile
def test_oversize_without_content_length_is_cut_off(server):
    """A body over the cap is refused even when the server does not say its size."""
    server.routes["/stream"] = (200, {"Content-Length": None}, b"y" * 10)
    fetch = Fetcher(resolver=loopback_resolver, max_bytes=10).fetch
    assert fetch(f"http://localhost:{server.port}/stream") == b"y" * 10
    with pytest.raises(FetchRefused, match="limit"):
        Fetcher(resolver=loopback_resolver, max_bytes=9).fetch(
            f"http://localhost:{server.port}/stream")


@pytest.mark.hostile
@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.1", "172.16.5.5", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "100.64.0.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
])
def test_non_public_addresses_are_refused(address):
    assert address_problem(address) is not None


def test_public_addresses_pass():
    assert address_problem("93.184.216.34") is None
    assert address_problem("2606:2800:220:1:248:1893:25c8:1946") is None
