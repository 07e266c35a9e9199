import factory

from accounts.models import Membership, Organisation, User
from accounts.taxonomy import Role
from annotation.models import Label, Task
from surveys.models import Camera, Cluster, Image, Site, Survey

_HASHED: dict[str, str] = {}


def hashed_password(raw: str) -> str:
    """The production hasher's hash of ``raw``, made once per test run: every test user's
    password is real (a child server checks it with PBKDF2 as production does), and the
    0.4 s of PBKDF2 is paid once instead of once per user."""
    from django.contrib.auth.hashers import make_password

    if raw not in _HASHED:
        _HASHED[raw] = make_password(raw)
    return _HASHED[raw]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.password = hashed_password(extracted or "pass-word-123")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()
            if obj.email:  # made by an operator: no confirmation mail needed to log in
                from allauth.account.models import EmailAddress

                EmailAddress.objects.get_or_create(
                    user=obj, email=obj.email, defaults={"verified": True, "primary": True})


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.ANNOTATOR
    can_annotate = True


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Survey {n}")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    survey = factory.SubFactory(SurveyFactory)
    name = factory.Sequence(lambda n: f"Site{n}")


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    site = factory.SubFactory(SiteFactory)
    path = factory.Sequence(lambda n: f"folder/CAM{n}")


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    site = factory.SubFactory(SiteFactory)
    survey = factory.LazyAttribute(lambda c: c.site.survey)
    image_count = 1


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    camera = factory.SubFactory(CameraFactory)
    filename = factory.Sequence(lambda n: f"IMG_{n:04d}.JPG")
    key = factory.LazyAttribute(lambda i: f"surveys/x/originals/{i.filename}")
    content_hash = factory.Sequence(lambda n: f"{n:064x}")


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    survey = factory.SubFactory(SurveyFactory)
    name = factory.Sequence(lambda n: f"Task {n}")


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    task = factory.SubFactory(TaskFactory)
    name = factory.Sequence(lambda n: f"Species {n}")
    hotkey = ""


def member(organisation, role=Role.ADMIN, **user_kwargs):
    """A user holding ``role`` in ``organisation`` (staff unless an annotator)."""
    user = UserFactory(is_staff=role != Role.ANNOTATOR, **user_kwargs)
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user
