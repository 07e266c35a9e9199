"""Response headers every page carries."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Sets ``Content-Security-Policy`` (settings.CONTENT_SECURITY_POLICY) on every response.

    The policy allows scripts only from this site: a label or file name that
    slipped through escaping still could not run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
