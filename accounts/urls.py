from django.urls import path

from . import views

urlpatterns = [
    path("enquiry/", views.enquiry, name="enquiry"),
    path("invitations/<int:invitation_id>/answer/", views.answer_invitation,
         name="answer_invitation"),
]
