from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def exception_handler(exc, context):
    """Domain refusals become 400/403/409 bodies that name the field when there is one."""
    if isinstance(exc, DomainError):
        key = exc.field or "detail"
        body = {key: [exc.message]} if exc.field else {"detail": exc.message}
        return Response(body, status=exc.status_code)
    if isinstance(exc, (TransitionNotAllowed, ConcurrentTransition)):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
