from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .exceptions import AccountsError
from .forms import EnquiryForm
from .selectors import pending_invitations_for
from .services.organisations import do_answer_invitation, do_submit_enquiry


def enquiry(request):
    form = EnquiryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        do_submit_enquiry(**form.cleaned_data, review_url=request.build_absolute_uri(
            reverse("admin:accounts_enquiry_changelist") + "?status__exact=new"))
        return render(request, "accounts/enquiry_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/enquiry.html", {"form": form})


@login_required
@require_POST
def answer_invitation(request, invitation_id: int):
    invitation = get_object_or_404(pending_invitations_for(request.user), pk=invitation_id)
    accept = request.POST.get("answer") == "accept"
    try:
        do_answer_invitation(invitation, user=request.user, accept=accept)
    except AccountsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"You joined {invitation.organisation}." if accept
            else f"You declined the invitation from {invitation.organisation}.",
        )
    return redirect("home")



