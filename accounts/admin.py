from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from core.exceptions import UserError

from .access import is_site_staff
from .models import ApiToken, Enquiry, Invitation, Membership, Organisation, User
from .scoping import OrgScopedInline, OrgScopedModelAdmin
from .services.api_tokens import do_create_api_token, do_revoke_api_tokens
from .services.organisations import check_invite, do_approve_enquiry, do_invite
from .taxonomy import Capability


class SuperuserOnlyMixin:
    """Site-wide records (accounts, enquiries): only superusers see them."""

    def has_module_permission(self, request):
        return is_site_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return is_site_staff(request.user)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request):
        return is_site_staff(request.user)


@admin.register(User)
class UserAdmin(SuperuserOnlyMixin, BaseUserAdmin):
    pass


class MembershipInline(OrgScopedInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "can_annotate"]
    autocomplete_fields = []
    change_capability = Capability.MANAGE_MEMBERS


@admin.register(Organisation)
class OrganisationAdmin(OrgScopedModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    change_capability = Capability.MANAGE_MEMBERS

    def has_add_permission(self, request, *args):
        # New organisations come from approved enquiries or create_organisation.
        return is_site_staff(request.user)


@admin.register(Membership)
class MembershipAdmin(OrgScopedModelAdmin):
    list_display = ["user", "organisation", "role", "can_annotate"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__username", "user__email"]
    change_capability = Capability.MANAGE_MEMBERS


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["organisation", "username", "email", "role"]

    def clean(self):
        data = super().clean()
        if data.get("organisation") is not None:
            try:
                check_invite(
                    data["organisation"], acting_user=self.acting_user,
                    username=data.get("username", ""), email=data.get("email", ""),
                )
            except UserError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(Invitation)
class InvitationAdmin(OrgScopedModelAdmin):
    form = InvitationForm
    list_display = ["organisation", "username", "email", "role", "status", "created_at"]
    list_filter = ["status", "organisation"]
    fields = ["organisation", "username", "email", "role"]
    change_capability = Capability.MANAGE_MEMBERS

    def has_change_permission(self, request, obj=None):
        # Invitations are answered by the invitee, not edited.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.may_change(request, obj)  # …but an admin may withdraw one

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        return form

    def save_model(self, request, obj, form, change):
        invitation = do_invite(
            obj.organisation, acting_user=request.user,
            username=obj.username, email=obj.email, role=obj.role,
        )
        obj.pk = invitation.pk


@admin.register(Enquiry)
class EnquiryAdmin(SuperuserOnlyMixin, admin.ModelAdmin):
    list_display = ["organisation_name", "email", "contact_name", "status", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["organisation", "decided_at", "created_at"]
    actions = ["approve"]

    def has_add_permission(self, request):
        return False  # enquiries come from the public form

    @admin.action(description="Approve: create the organisation and email its admin")
    def approve(self, request, queryset):
        for enquiry in queryset:
            try:
                new = do_approve_enquiry(enquiry, acting_user=request.user)
            except UserError as exc:
                self.message_user(request, f"{enquiry}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"Created {new.organisation} with admin {new.user.username}; "
                f"the credentials were emailed to {new.user.email}.",
                messages.SUCCESS,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Your own REST API keys: make one (its key is shown once) and revoke it."""

    list_display = ["name", "user", "created_at", "last_used_at", "revoked_at"]
    fields = ["name"]
    actions = ["revoke"]

    def _own(self, request, obj=None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return obj is None or is_site_staff(user) or obj.user_id == user.pk

    def has_module_permission(self, request):
        return self._own(request)

    def has_view_permission(self, request, obj=None):
        return self._own(request, obj)

    def has_add_permission(self, request):
        return self._own(request)

    def has_change_permission(self, request, obj=None):
        return False  # a key is revoked and replaced, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay listed: when each was used last

    def get_queryset(self, request):
        tokens = super().get_queryset(request).select_related("user")
        return tokens if is_site_staff(request.user) else tokens.filter(user=request.user)

    def save_model(self, request, obj, form, change):
        token, key = do_create_api_token(request.user, obj.name, acting_user=request.user)
        # The admin goes on with the form's instance (its history line, the redirect):
        # make it the saved token, user included, or naming it fails and the 500 rolls
        # the new key back after its message was queued.
        obj.pk, obj.user, obj.name = token.pk, token.user, token.name
        obj.key_hash, obj.created_at = token.key_hash, token.created_at
        messages.warning(request, f"Your new API key is {key} — copy it now: it is not "
                                  "shown again. Send it as 'Authorization: Token <key>'.")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = do_revoke_api_tokens(queryset, acting_user=request.user)
        messages.info(request, f"Revoked {revoked} key(s).")
