from django.core.exceptions import ValidationError
from django.db import transaction

from integrations.models import Channel, Platform


def channel_create_or_update(*, code: str, platform: str, **fields) -> tuple[Channel, bool]:
    """Scripted channel set-up: create the channel, or update the fields given for an existing
    one. Only non-None fields are applied, so re-running a script never blanks a secret."""
    if platform not in Platform.values:
        raise ValidationError({"platform": f"unknown platform {platform!r}"})
    values = {key: value for key, value in fields.items() if value is not None}
    with transaction.atomic():
        channel = Channel.objects.select_for_update().filter(code=code).first()
        created = channel is None
        if created:
            values.setdefault("name", code)
            channel = Channel(code=code)
        channel.platform = platform
        for key, value in values.items():
            try:
                setattr(channel, key, value)
            except ValidationError as exc:  # the time zone field validates on assignment
                raise ValidationError({key: exc.messages}) from exc
        channel.full_clean()
        channel.save()
    return channel, created
