"""Filter types shared by every filter set, the API's and the desk's."""

import django_filters
from django.db import models
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS

from core.forms import AwareDateTimeField


class AwareDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Filters on a moment given in ISO 8601; see AwareDateTimeField for what it refuses."""

    field_class = AwareDateTimeField


class FilterSet(django_filters.FilterSet):
    """The base of Conduit's filter sets: filters generated for date-time columns refuse the
    moments the database cannot take, like the declared ones."""

    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        models.DateTimeField: {"filter_class": AwareDateTimeFilter},
    }
