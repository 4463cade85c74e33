import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.beat import PERIODIC_TASKS


class Command(BaseCommand):
    help = "Create or update every periodic task of config/beat.py by name."

    @transaction.atomic
    def handle(self, *args, **options):
        for schedule in PERIODIC_TASKS:
            defaults = {"task": schedule.task, "enabled": True, "kwargs": json.dumps({})}
            if schedule.every_seconds:
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=schedule.every_seconds, period=IntervalSchedule.SECONDS
                )
                defaults.update(interval=interval, crontab=None)
            else:
                cron = {
                    "minute": "*",
                    "hour": "*",
                    "day_of_week": "*",
                    "day_of_month": "*",
                    "month_of_year": "*",
                    **schedule.crontab,
                }
                crontab, _ = CrontabSchedule.objects.get_or_create(**cron, timezone="UTC")
                defaults.update(crontab=crontab, interval=None)
            _task, created = PeriodicTask.objects.update_or_create(name=schedule.name, defaults=defaults)
            self.stdout.write(f"{'created' if created else 'updated'}: {schedule.name}")
