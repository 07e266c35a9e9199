"""``{% admin_help_panel %}``: the help panel of the admin page being shown (core.help)."""

from django import template
from django.urls import reverse

from core.help import panel_for, section_anchor

register = template.Library()


@register.inclusion_tag("admin/_help_panel.html", takes_context=True)
def admin_help_panel(context):
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    opts = context.get("opts")
    if opts is not None and hasattr(opts, "app_label"):
        key = f"{opts.app_label}.{opts.model_name}"
    elif match is not None and match.url_name == "index":
        key = "index"
    else:
        return {"panel": None}
    panel = panel_for(key)
    if panel is None:
        return {"panel": None}
    return {"panel": panel,
            "docs_url": f"{reverse('help')}#{section_anchor(panel.section)}"}
