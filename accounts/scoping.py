"""Organisation scoping for the Django admin: one mixin for every ModelAdmin.

Everyone sees, edits and is offered as a choice only rows of organisations
where they hold the ModelAdmin's capability; the access gateway
(accounts.access) decides which, site staff included. Permissions come from
membership roles (accounts.taxonomy), not from Django's per-model permission
table.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError

from .access import ALL, organisation_ids_for
from .models import User
from .selectors import users_visible_to
from .taxonomy import Capability


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id widget that names the chosen object only when the user may pick it.

    Django's widget looks the label up in the whole table, so a form sent
    back with another organisation's id would show that object's name.
    """

    @classmethod
    def from_widget(cls, widget: ForeignKeyRawIdWidget, queryset):
        scoped = cls(widget.rel, widget.admin_site, attrs=widget.attrs, using=widget.db)
        scoped.queryset = queryset
        return scoped

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            if not self.queryset.filter(**{key: value}).exists():
                return "", ""
        except (ValueError, TypeError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value)


class OrgScopedAdminMixin:
    """Rows, permissions and choices of a ModelAdmin, all through the access gateway."""

    view_capability = Capability.VIEW
    change_capability = Capability.CHANGE

    # --- which organisations -------------------------------------------------
    def _org_ids(self, request, capability) -> set[int] | None:
        cache = request.__dict__.setdefault("_traptagger_org_ids", {})
        if capability not in cache:
            cache[capability] = organisation_ids_for(request.user, capability)
        return cache[capability]

    def viewable_org_ids(self, request):
        return self._org_ids(request, self.view_capability)

    def changeable_org_ids(self, request):
        return self._org_ids(request, self.change_capability)

    @staticmethod
    def _any(org_ids) -> bool:
        return org_ids is ALL or bool(org_ids)

    # --- rows --------------------------------------------------------------
    def get_queryset(self, request):
        return super().get_queryset(request).of_organisations(
            self.viewable_org_ids(request), include_shared=True)

    def _owned_by(self, obj, org_ids, *, include_shared: bool = False) -> bool:
        if obj is None:
            return self._any(org_ids)
        return type(obj)._default_manager.filter(pk=obj.pk).of_organisations(
            org_ids, include_shared=include_shared).exists()

    # --- permissions from capabilities --------------------------------------------
    def has_module_permission(self, request):
        return self._any(self.viewable_org_ids(request))

    def has_view_permission(self, request, obj=None):
        return self._owned_by(obj, self.viewable_org_ids(request), include_shared=True)

    def may_change(self, request, obj=None) -> bool:
        """Whether the user's roles let them change (or delete) ``obj``."""
        return self._owned_by(obj, self.changeable_org_ids(request))

    def has_change_permission(self, request, obj=None):
        return self.may_change(request, obj)

    def has_add_permission(self, request, *args):
        return self._any(self.changeable_org_ids(request))

    def has_delete_permission(self, request, obj=None):
        return self.may_change(request, obj)

    # --- choices -------------------------------------------------------------
    def scope_choices(self, request, queryset):
        """Limit a choice queryset to what the user may pick."""
        org_ids = self.changeable_org_ids(request)
        model = queryset.model
        if model is User:
            return queryset if org_ids is ALL else users_visible_to(org_ids)
        if getattr(model, "org_path", None):
            return queryset.of_organisations(org_ids, include_shared=True)
        return queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self.scope_choices(request, field.queryset)
            if isinstance(field.widget, ForeignKeyRawIdWidget):
                field.widget = ScopedRawIdWidget.from_widget(field.widget, field.queryset)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self.scope_choices(request, field.queryset)
        return field

    def get_field_queryset(self, db, db_field, request):
        qs = super().get_field_queryset(db, db_field, request)
        if qs is None:
            qs = db_field.remote_field.model._default_manager.using(db).all()
        return self.scope_choices(request, qs)

    def get_list_filter(self, request):
        """Related-field filters offer only values found in the user's own rows.

        Django's default related filter lists every row of the related table
        (other organisations' names included), whatever get_field_queryset says.
        """
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if field.is_relation:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters


class OrgScopedModelAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    pass


class OrgScopedInline(OrgScopedAdminMixin, admin.TabularInline):
    pass

