"""Every event handler subscribes to a registered event of the service that
publishes it, and every registered event has a consumer in the suite unless
it is marked public (consumed outside the suite)."""
import importlib
import inspect

from nameko.events import EventHandler, event_handler

from contracts.registry import registered
from servicekit.config import service_names


def subscriptions(service_classes) -> list[tuple[str, str, str]]:
    """(where, source service, event type) of every event handler of these classes."""
    found = []
    for cls in service_classes:
        for name, method in inspect.getmembers(cls, callable):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler):
                    found.append((f"{cls.__name__}.{name}", entrypoint.source_service, entrypoint.event_type))
    return found


def suite_service_classes() -> list[type]:
    classes = []
    for service in service_names():
        module = importlib.import_module(f"services.{service}.service")
        classes += [value for value in vars(module).values()
                    if inspect.isclass(value) and value.__module__ == module.__name__ and getattr(value, "name", None)]
    return classes


def unregistered(subs) -> list[str]:
    events = registered()
    problems = []
    for where, source, event_type in subs:
        event = events.get(event_type)
        if event is None:
            problems.append(f"{where} subscribes to {event_type}, which no contract registers")
        elif event.source != source:
            problems.append(f"{where} listens for {event_type} on {source}, but {event.source} publishes it")
    return problems


def test_every_handler_subscribes_to_a_registered_event():
    subs = subscriptions(suite_service_classes())
    assert len(subs) >= 27
    assert unregistered(subs) == []


def test_a_misspelt_or_misplaced_subscription_is_found():
    class Misspelt:
        name = "misspelt"

        @event_handler("programs", "programs.member.jionde.v1")
        def on_joined(self, event):
            pass

        @event_handler("identity", "programs.member.joined.v1")
        def on_joined_elsewhere(self, event):
            pass

    problems = unregistered(subscriptions([Misspelt]))
    assert len(problems) == 2 and "jionde" in problems[0] and "identity" in problems[1]


def test_every_event_has_a_consumer_unless_it_is_public():
    consumed = {event_type for _, _, event_type in subscriptions(suite_service_classes())}
    suite = set(service_names())
    events = {event_type: event for event_type, event in registered().items() if event.source in suite}
    unconsumed = sorted(t for t, event in events.items() if t not in consumed and not event.public)
    assert unconsumed == [], f"published but consumed by no service (mark public=True if meant for outside): " \
                             f"{unconsumed}"
