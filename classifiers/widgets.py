"""Admin widgets of the classifiers app."""

from __future__ import annotations

from django import forms
from django.utils.html import format_html


class PolygonWidget(forms.Widget):
    """A hidden JSON field with an image to click corners on (static/js/mask_editor.js).

    ``image_url`` is the admin URL of a camera's example image with 0 for the
    camera id; the script puts in the chosen camera's id.
    """

    class Media:
        js = ("js/mask_editor.js",)
        css = {"all": ("css/mask_editor.css",)}

    def __init__(self, attrs=None, *, image_url: str = "", camera_id: int | None = None):
        super().__init__(attrs)
        self.image_url, self.camera_id = image_url, camera_id

    def format_value(self, value):
        return "" if value is None else str(value)

    def render(self, name, value, attrs=None, renderer=None):
        field_id = (attrs or {}).get("id") or f"id_{name}"
        return format_html(
            '<div class="mask-editor" data-input="{}" data-image-url="{}" data-camera-id="{}">'
            '<input type="hidden" name="{}" id="{}" value="{}">'
            '<div class="mask-editor-stage"><img alt="An image of the camera">'
            '<svg viewBox="0 0 1 1" preserveAspectRatio="none"></svg></div>'
            '<p class="mask-editor-note help"></p>'
            '<div class="mask-editor-tools">'
            '<button type="button" class="button" data-action="undo">Undo last corner</button> '
            '<button type="button" class="button" data-action="clear">Clear</button></div>'
            '</div>',
            field_id, self.image_url, self.camera_id or "", name, field_id,
            self.format_value(value))
