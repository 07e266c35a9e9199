"""Where a file's site and physical camera names come from.

A survey's ``names_from`` says what its site regex and camera regex are applied
to, for a file at ``rel`` (its path relative to the import's source folder):

* ``folder`` (the default, and all there was before): the folder path, e.g.
  ``StationA/PBE``; files directly in the source folder belong to one site
  named after the source folder;
* ``filename``: the file name, e.g. ``StationA__2009-04-21__00-40-00(1).JPG``
  (camtrapR's individual-tagged sets, animl's burrowing-owl files);
* ``path``: the whole relative path, folder and file name.

The site is the regex's first match. A camera (``Camera``) is always the
folder the file is in; its *physical camera* is the camera regex's first
match on the same text, or the folder itself when there is no camera regex
or it does not match: so a species-sorted layout (``Station/Species/…``) with
the camera regex ``^[^/]+`` is one physical camera per station, and several
folders of one camera over a season are one physical camera.

Each regex runs once per distinct text (answers are kept), bounded by
``USER_REGEX_TIMEOUT_SECONDS`` per match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import regex

from core import user_regex

from ..exceptions import SurveyError
from ..models import Camera, Site
from ..taxonomy import NamesFrom

SITE_NAME_CHARS = Site._meta.get_field("name").max_length
PHYSICAL_CAMERA_CHARS = Camera._meta.get_field("physical_camera").max_length


@dataclass(frozen=True)
class Names:
    site: str
    camera: str  # the physical camera
    problem: str = ""  # why the file has no site ("" when it has one)


def subject(rel: str, names_from: str) -> str:
    """The text the regexes are applied to for the file at ``rel``."""
    if names_from == NamesFrom.FILENAME:
        return os.path.basename(rel)
    if names_from == NamesFrom.PATH:
        return rel
    return os.path.dirname(rel)


def compile_user_regex(pattern: str, field: str) -> regex.Pattern | None:
    """``pattern`` compiled (None when empty), without the shape check: a regex stored before
    the check existed still imports, each match bounded by user_regex.search's timeout."""
    if not pattern:
        return None
    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise SurveyError(f"The {field} {pattern!r} is not a valid regular expression "
                          f"({exc}); change it and import again.") from exc


class Namer:
    """Names of the files of one source folder under one survey's rules."""

    def __init__(self, *, site_regex: str, camera_regex: str = "",
                 names_from: str = NamesFrom.FOLDER, root_name: str):
        self.site_pattern = site_regex
        self.site_re = compile_user_regex(site_regex, "site regex")
        self.camera_re = compile_user_regex(camera_regex, "camera regex")
        self.names_from = names_from
        self.root_name = root_name
        self._sites: dict[str, tuple[str, str]] = {}
        self._cameras: dict[str, str] = {}

    @classmethod
    def for_survey(cls, survey, root_name: str, **overrides) -> Namer:
        rules = {"site_regex": survey.site_regex, "camera_regex": survey.camera_regex,
                 "names_from": survey.names_from, **overrides}
        return cls(root_name=root_name, **rules)

    def names(self, rel: str) -> Names:
        text = subject(rel, self.names_from)
        if text not in self._sites:
            self._sites[text] = self._site_of(text)
        site, problem = self._sites[text]
        if problem:
            return Names("", "", problem)
        return Names(site, self._camera_of(text, os.path.dirname(rel)))

    def _site_of(self, text: str) -> tuple[str, str]:
        what = {NamesFrom.FILENAME: "file name", NamesFrom.PATH: "path"}.get(
            self.names_from, "folder")
        if not text:  # a flat folder of images: one site named after the folder
            return self._fits(self.root_name, f"the survey folder {self.root_name!r}")
        try:
            match = user_regex.search(self.site_re, text)
        except user_regex.RegexTimeout as exc:
            return "", f"its {what} {text!r}: {exc}; no site"
        if not match or not match.group(0):
            return "", (f"its {what} {text!r} does not match the site regex "
                        f"{self.site_pattern!r}; no site (change the survey's site regex or "
                        "where names come from, and import again)")
        return self._fits(match.group(0), f"its {what} {text!r}")

    def _camera_of(self, text: str, folder: str) -> str:
        if self.camera_re is None or not text:
            return folder
        if text not in self._cameras:
            try:
                match = user_regex.search(self.camera_re, text)
            except user_regex.RegexTimeout:
                match = None
            name = match.group(0) if match else ""
            self._cameras[text] = name if name and len(name) <= PHYSICAL_CAMERA_CHARS else ""
        return self._cameras[text] or folder

    @staticmethod
    def _fits(site: str, source: str) -> tuple[str, str]:
        if len(site) > SITE_NAME_CHARS:
            return "", (f"the site name taken from {source} is {len(site)} characters long, "
                        f"over the {SITE_NAME_CHARS} a site's name may have (Site.name); "
                        "shorten the name or change the site regex")
        return site, ""
