"""The access gateway: one rule for who sees and does what, site staff included."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from accounts.access import check_capability, has_capability, organisation_ids_for
from accounts.taxonomy import Capability, Role
from annotation.models import Task
from annotation.taxonomy import TaskStatus
from classifiers.models import Classifier
from core.exceptions import AccessDenied
from surveys.exceptions import SurveyError
from surveys.models import Image, Survey
from surveys.services.surveys import do_save_survey
from tests.conftest import ws_headers
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    OrganisationFactory,
    SurveyFactory,
    TaskFactory,
    UserFactory,
    member,
)
from traptagger.asgi import application

pytestmark = pytest.mark.django_db

EXPECTED = {
    # role: capabilities it grants
    Role.ADMIN: {Capability.MEMBER, Capability.VIEW, Capability.CHANGE,
                 Capability.MANAGE_MEMBERS, Capability.ANNOTATE},
    Role.WRITE: {Capability.MEMBER, Capability.VIEW, Capability.CHANGE, Capability.ANNOTATE},
    Role.READ: {Capability.MEMBER, Capability.VIEW, Capability.ANNOTATE},
    Role.ANNOTATOR: {Capability.MEMBER, Capability.ANNOTATE},
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_grants_its_capabilities_in_its_own_organisation_only(role):
    mine, other = SurveyFactory(), SurveyFactory()
    user = member(mine.organisation, role)
    for capability in Capability:
        visible = set(Survey.objects.accessible_to(user, capability))
        assert visible == ({mine} if capability in EXPECTED[role] else set()), capability
        assert has_capability(user, mine, capability) is (capability in EXPECTED[role])
        assert not has_capability(user, other, capability)


def test_annotation_needs_can_annotate():
    survey = SurveyFactory()
    user = member(survey.organisation, Role.WRITE)
    user.memberships.update(can_annotate=False)
    assert not Survey.objects.accessible_to(user, Capability.ANNOTATE).exists()
    assert Survey.objects.accessible_to(user, Capability.CHANGE).exists()


def test_site_staff_see_and_change_everything_but_annotate_only_as_members():
    a, b = SurveyFactory(), SurveyFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    for capability in (Capability.MEMBER, Capability.VIEW, Capability.CHANGE,
                       Capability.MANAGE_MEMBERS):
        assert set(Survey.objects.accessible_to(staff, capability)) == {a, b}
        assert organisation_ids_for(staff, capability) is None  # every organisation
    assert not Survey.objects.accessible_to(staff, Capability.ANNOTATE).exists()
    MembershipFactory(user=staff, organisation=a.organisation, role=Role.ANNOTATOR)
    assert set(Survey.objects.accessible_to(staff, Capability.ANNOTATE)) == {a}


def test_anonymous_sees_nothing():
    from django.contrib.auth.models import AnonymousUser

    SurveyFactory()
    for capability in Capability:
        assert not Survey.objects.accessible_to(AnonymousUser(), capability).exists()


def test_shared_rows_are_read_by_all_but_changed_by_staff_only():
    org = OrganisationFactory()
    writer = member(org, Role.WRITE)
    shared = Classifier.objects.create(name="Shared", model_key="x.keras", classes=["a"])
    own = Classifier.objects.create(organisation=org, name="Own", model_key="y.keras",
                                    classes=["a"])
    foreign = Classifier.objects.create(organisation=OrganisationFactory(), name="Foreign",
                                        model_key="z.keras", classes=["a"])
    assert set(Classifier.objects.accessible_to(writer, Capability.VIEW)) == {shared, own}
    assert set(Classifier.objects.accessible_to(writer, Capability.CHANGE)) == {own}
    assert foreign not in Classifier.objects.accessible_to(writer, Capability.MEMBER)


def test_deep_paths_are_scoped():
    image = ImageFactory()
    user = member(image.camera.site.survey.organisation, Role.ANNOTATOR)
    ImageFactory()  # another organisation's
    assert list(Image.objects.accessible_to(user, Capability.MEMBER)) == [image]


def test_check_capability_says_what_was_refused():
    survey = SurveyFactory(name="Mara 2024")
    reader = member(survey.organisation, Role.READ)
    check_capability(reader, survey, Capability.VIEW)
    with pytest.raises(AccessDenied, match="change surveys.*Mara 2024"):
        check_capability(reader, survey, Capability.CHANGE)


def test_survey_service_refuses_readers_and_another_organisations_classifier():
    survey = SurveyFactory()
    reader = member(survey.organisation, Role.READ)
    writer = member(survey.organisation, Role.WRITE)
    survey.description = "changed"
    with pytest.raises(AccessDenied):
        do_save_survey(survey, acting_user=reader)
    do_save_survey(survey, acting_user=writer)
    survey.classifier = Classifier.objects.create(
        organisation=OrganisationFactory(), name="Theirs", model_key="x.keras", classes=["a"])
    with pytest.raises(SurveyError, match="belongs to another organisation"):
        do_save_survey(survey, acting_user=writer)
    assert Survey.objects.get(pk=survey.pk).classifier is None


@pytest.mark.django_db(transaction=True)
def test_websockets_apply_the_same_staff_rule():
    """Staff may follow any survey's progress but label only where they are members."""
    task = TaskFactory(status=TaskStatus.LAUNCHED)
    staff = UserFactory(is_staff=True, is_superuser=True)
    headers = ws_headers(staff)

    async def close_code(path):
        comm = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await comm.connect()
        assert connected
        message = await comm.receive_output(timeout=5)
        await comm.disconnect()
        return message.get("code") if message["type"] == "websocket.close" else "open"

    assert async_to_sync(close_code)(f"/ws/annotate/{task.pk}/") == 4403
    assert async_to_sync(close_code)(f"/ws/surveys/{task.survey_id}/") == "open"
    assert Task.objects.accessible_to(staff, Capability.VIEW).filter(pk=task.pk).exists()
