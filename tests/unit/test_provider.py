from __future__ import annotations

import json
from importlib import resources

import jsonschema
from importlib_metadata import entry_points

import sagemaker_async


def test_provider_info_is_registered_and_valid_for_airflow() -> None:
    (entry,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("sagemaker_async")
    ]
    info = entry.load()()
    assert info == sagemaker_async.get_provider_info()
    schema = json.loads((resources.files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["versions"] == [sagemaker_async.__version__]


def test_public_names_import_from_the_package() -> None:
    from sagemaker_async import SageMakerTrainingOperator, SageMakerTrainingTrigger

    assert SageMakerTrainingOperator.__module__ == "sagemaker_async.operators"
    assert SageMakerTrainingTrigger.__module__ == "sagemaker_async.triggers"
