"""Domain errors raised by services; views and the API turn them into messages and statuses."""


class DomainError(Exception):
    """A request the domain refuses; `field` names the input it is about, when there is one."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotPermitted(DomainError):
    status_code = 403


class TransitionRefused(DomainError):
    """The object's current state does not allow the action (or it changed concurrently)."""

    status_code = 409
