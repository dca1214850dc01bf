"""The registry against the model: Voice ID's 29 operations plus voiceid's session operations."""

from __future__ import annotations

from voiceid_site.awsjson import model, registry

# What Amazon Connect's streaming and agent app called privately (spec §4.1/4.8); our model adds them.
SESSION_OPERATIONS = {
    "StartSession",
    "PutSessionAudio",
    "UpdateSession",
    "DescribeSession",
    "EndSession",
    "EnrollBySession",
}


def test_the_model_has_the_29_voice_id_operations_and_the_session_operations():
    assert len(model.operation_names()) == 29 + len(SESSION_OPERATIONS)
    assert set(model.operation_names()) >= SESSION_OPERATIONS


def test_every_registered_handler_is_a_model_operation():
    assert set(registry.handlers()) <= set(model.operation_names())


def test_every_model_operation_has_a_handler():
    assert set(model.operation_names()) - set(registry.handlers()) == set()


def test_handlers_are_named_after_their_operation():
    import re

    for name, handler in registry.handlers().items():
        assert handler.__name__ == re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
