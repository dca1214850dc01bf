"""Every constraint of every implemented operation's input, broken one at a time, is refused with a
ValidationException naming the member. boto3 checks only required/type/min itself (spec §2.4), so the
cases it would send unchecked go through boto3 with its own checks off; reshaped ones go raw."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.awsjson import modelcases
from voiceid_site.awsjson import model, registry

pytestmark = pytest.mark.django_db(transaction=True)

ALL_CASES = [case for operation in sorted(registry.handlers()) for case in modelcases.cases(operation)]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_generator_covers_every_implemented_operation_with_input():
    covered = {case.operation for case in ALL_CASES}
    assert covered == {op for op in registry.handlers() if model.input_shape_name(op)}
    assert len(ALL_CASES) > 150


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: f"{case.operation}: {case.description}")
def test_a_broken_member_is_refused_by_name(case, raw_client, signed_post):
    if case.boto3_can_send:
        with pytest.raises(ClientError) as excinfo:
            getattr(raw_client, _snake(case.operation))(**case.params)
        status = excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
        code, message = excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]
    else:
        response = signed_post(f"VoiceID.{case.operation}", json.dumps(case.params).encode())
        status, code, message = response.status_code, response.json()["__type"], response.json()["Message"]
    assert (status, code) == (400, "ValidationException"), message
    assert f"at '{case.path}" in message and case.constraint in message, message


@pytest.mark.parametrize("operation", sorted(op for op in registry.handlers() if model.input_shape_name(op)))
def test_the_valid_baseline_passes_validation(operation, raw_client):
    # The baseline names resources that do not exist: anything but a ValidationException proves it validated.
    params = modelcases.valid_value(model.input_shape_name(operation))
    try:
        getattr(raw_client, _snake(operation))(**params)
    except ClientError as error:
        assert error.response["Error"]["Code"] != "ValidationException", error.response["Error"]["Message"]
