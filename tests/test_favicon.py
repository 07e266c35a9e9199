"""Browsers ask every site for /favicon.ico: it leads to the shipped icon, not a 404."""

import xml.etree.ElementTree as ET

from django.contrib.staticfiles import finders


def test_favicon_redirects_to_the_static_svg_icon(client, settings):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].startswith(settings.STATIC_URL)
    assert response["Location"].endswith(".svg")
    assert "max-age=86400" in response["Cache-Control"]
    path = finders.find("img/favicon.svg")
    assert path is not None
    assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
