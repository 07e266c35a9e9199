"""Organisation scoping for the Django admin: one mixin for every ModelAdmin.

A superuser sees everything. Anyone else sees, edits and is offered as a
choice only rows owned by organisations where they hold a suitable role.
Models name their path to the organisation in ``org_path``; permissions come
from the membership roles (accounts.taxonomy), not from Django's per-model
permission table.
"""

from __future__ import annotations

from django.contrib import admin

from .models import User
from .selectors import organisation_ids_for, scope_queryset, users_visible_to
from .taxonomy import ADMIN_SITE_ROLES, WRITE_ROLES


class OrgScopedAdminMixin:
    view_roles = ADMIN_SITE_ROLES
    change_roles = WRITE_ROLES

    # --- which organisations -------------------------------------------------
    def _org_ids(self, request, roles) -> set[int]:
        cache = request.__dict__.setdefault("_traptagger_org_ids", {})
        key = frozenset(roles)
        if key not in cache:
            cache[key] = organisation_ids_for(request.user, roles)
        return cache[key]

    def viewable_org_ids(self, request):
        return self._org_ids(request, self.view_roles)

    def changeable_org_ids(self, request):
        return self._org_ids(request, self.change_roles)

    # --- rows --------------------------------------------------------------
    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return scope_queryset(qs, self.viewable_org_ids(request), include_shared=True)

    def _owned_by(self, request, obj, org_ids) -> bool:
        if obj is None:
            return bool(org_ids)
        return scope_queryset(type(obj).objects.filter(pk=obj.pk), org_ids).exists()

    # --- permissions from roles ---------------------------------------------
    def has_module_permission(self, request):
        return request.user.is_superuser or bool(self.viewable_org_ids(request))

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if obj is not None and getattr(obj, "org_shared_if_null", False) and (
            getattr(obj, obj.org_path + "_id", None) is None
        ):
            return bool(self.viewable_org_ids(request))
        return self._owned_by(request, obj, self.viewable_org_ids(request))

    def may_change(self, request, obj=None) -> bool:
        """Whether the user's roles let them change (or delete) ``obj``."""
        if request.user.is_superuser:
            return True
        return self._owned_by(request, obj, self.changeable_org_ids(request))

    def has_change_permission(self, request, obj=None):
        return self.may_change(request, obj)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser or bool(self.changeable_org_ids(request))

    def has_delete_permission(self, request, obj=None):
        return self.may_change(request, obj)

    # --- choices -------------------------------------------------------------
    def scope_choices(self, request, queryset):
        """Limit a choice queryset to what the user may pick."""
        if request.user.is_superuser:
            return queryset
        org_ids = self.changeable_org_ids(request)
        model = queryset.model
        if model is User:
            return users_visible_to(org_ids)
        if getattr(model, "org_path", None):
            return scope_queryset(queryset, org_ids, include_shared=True)
        return queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self.scope_choices(request, field.queryset)
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

