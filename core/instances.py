"""Building unsaved model instances fast (issue #18): `build(Model, **values)` gives the instance
`Model(**values)` gives, for the models a batch builds by the thousand (orders, lines, events,
shipments). Django's keyword constructor walks every field through its descriptor and asks each
for its default; an order has ~90 fields, and construction was a fifth of a bulk intake's CPU.

Here each model's recipe is worked out once: the fields whose default is a constant are copied
from one prepared dict, callable defaults are called, values land in the instance's `__dict__` as
Django's own descriptors would put them there, and a related instance is type-checked and cached
as ForwardManyToOneDescriptor does. Anything the recipe cannot vouch for — a model with its own
`__init__`, a field with another descriptor, init signal receivers, database routers, a name that
is not a concrete field — takes Django's constructor instead. A test holds the two equal, field
by field, for every model built here."""

from inspect import getattr_static

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django_fsm import ConcurrentTransitionMixin, FSMFieldDescriptor

# Constructors a recipe may stand in for: Django's and django-fsm's, which only records the states.
_KNOWN_INITS = {Model.__init__, ConcurrentTransitionMixin.__init__, object.__init__}


class _Recipe:
    def __init__(self, model: type[Model]):
        self.plain: dict[str, str] = {}  # a value's key → the attname it is stored under
        self.related: dict[str, tuple] = {}  # name → (attname, related model, target attname)
        self.constants: dict[str, object] = {}  # attname → the default, the same object every time
        self.factories: dict[str, object] = {}  # attname → the callable default
        self.setters: set[str] = set()  # attnames whose descriptor converts what is set (setattr)
        self.states: list[str] = []  # django-fsm state fields, recorded as the initial states
        self.usable = all(
            "__init__" not in vars(klass) or vars(klass)["__init__"] in _KNOWN_INITS
            for klass in model.__mro__
        )
        self.tracks_states = issubclass(model, ConcurrentTransitionMixin)
        for field in model._meta.fields:
            if field.column is None or field.generated:
                continue
            descriptor = getattr_static(model, field.attname, None)
            if isinstance(descriptor, FSMFieldDescriptor):
                self.states.append(field.attname)
                self.usable &= not getattr(field, "state_proxy", None)
            elif type(descriptor) not in (DeferredAttribute, ForeignKeyDeferredAttribute):
                # e.g. a time zone field turning a name into a ZoneInfo: set through it
                self.usable &= isinstance(descriptor, DeferredAttribute) and not field.is_relation
                self.setters.add(field.attname)
            self.plain[field.attname] = field.attname
            if field.is_relation:
                forward = getattr_static(model, field.name, None)
                if type(forward) is not ForwardManyToOneDescriptor or len(field.foreign_related_fields) != 1:
                    self.usable = False  # one-to-one and composite keys: Django's descriptor
                else:
                    concrete = field.remote_field.model._meta.concrete_model
                    self.related[field.name] = (field.attname, concrete, field.target_field.attname)
            if field.attname in self.setters:
                continue  # its default is set through its descriptor too, when no value is given
            if field.has_default() and callable(field.default):
                self.factories[field.attname] = field.default
            else:
                self.constants[field.attname] = field.get_default()
        if not model._meta.pk.is_relation:
            self.plain["pk"] = model._meta.pk.attname  # Model(pk=…) sets the primary key's field
        self.setter_defaults = {
            attname: model._meta.get_field(attname).get_default for attname in self.setters
        }
        # A row as the database gives it: every concrete field's value, in this order.
        self.row = [field.attname for field in model._meta.concrete_fields]
        self.row_count = len(self.row)


_recipes: dict[type[Model], _Recipe] = {}


def _recipe(model: type[Model]) -> _Recipe | None:
    """The model's recipe, or None where Django's constructor must run."""
    recipe = _recipes.get(model)
    if recipe is None:
        recipe = _recipes[model] = _Recipe(model)
    if not recipe.usable or settings.DATABASE_ROUTERS:
        return None
    # Nothing listens to either signal, for any model, in the common case: asking each signal
    # about this model costs 1.3 µs an instance (building a timeline row: 5.4–5.7 µs with the
    # question, 3.5–4.2 µs without).
    if (pre_init.receivers or post_init.receivers) and (
        pre_init.has_listeners(model) or post_init.has_listeners(model)
    ):
        return None
    return recipe


def loaded(model: type[Model], db: str, field_names, values) -> Model:
    """A `model` instance read from the database, as `Model.from_db` gives it (which calls the
    positional constructor: a setattr through each field's descriptor, then django-fsm's scan for
    state fields). A deferred field is left out of the instance's `__dict__`, as Django leaves it;
    a row without a state field takes Django's path (which reads the state at once)."""
    recipe, names = _recipe(model), None
    if recipe is not None and len(values) == recipe.row_count:
        names = recipe.row  # every field, in the model's order (Django's from_db assumes it too)
    elif recipe is not None and all(name in field_names for name in recipe.states):
        names = field_names  # the selected fields' attnames, in the row's order
    if names is None:
        return Model.from_db.__func__(model, db, field_names, values)
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding, state.db = False, db
    stored = instance.__dict__
    stored.update(zip(names, values, strict=True))
    for attname in recipe.setters:  # its descriptor converts what the database gave
        if attname in stored:
            setattr(instance, attname, stored[attname])
    if recipe.tracks_states:
        stored["_ConcurrentTransitionMixin__initial_states"] = {name: stored[name] for name in recipe.states}
    return instance


def build(model: type[Model], **values) -> Model:
    """An unsaved `model` instance, as `model(**values)` would build it."""
    recipe = _recipe(model)
    if recipe is None:
        return model(**values)
    instance = model.__new__(model)
    state = instance._state = ModelState()
    stored = instance.__dict__
    stored.update(recipe.constants)
    for attname, factory in recipe.factories.items():
        stored[attname] = factory()
    cache = None
    for name, value in values.items():
        related = recipe.related.get(name)
        if related is not None:
            attname, related_model, target = related
            if value is not None:
                if not isinstance(value, related_model) or (
                    state.db and value._state.db not in (None, state.db)
                ):
                    return model(**values)  # Django's ValueError, worded its way
                state.db = state.db or value._state.db or DEFAULT_DB_ALIAS
                value._state.db = value._state.db or state.db
                stored[attname] = getattr(value, target)
            else:
                stored[attname] = None
            if cache is None:
                cache = state.fields_cache
            cache[name] = value
        elif name in recipe.setters:
            setattr(instance, name, value)
        elif name in recipe.plain:
            stored[recipe.plain[name]] = value
        else:
            return model(**values)  # a property, a private field or a typo: Django's own handling
    for attname, default in recipe.setter_defaults.items():
        if attname not in values:
            setattr(instance, attname, default())
    if recipe.tracks_states:  # what ConcurrentTransitionMixin.__init__ records, without its field scan
        stored["_ConcurrentTransitionMixin__initial_states"] = {name: stored[name] for name in recipe.states}
    return instance
