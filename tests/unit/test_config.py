from __future__ import annotations

import json

import pytest

from sagemaker_async.config import InvalidConfigError, prepare_config
from tests.unit.fakes import base_config


def test_templated_numbers_and_booleans_are_coerced() -> None:
    config = base_config()
    config["EnableManagedSpotTraining"] = "true"
    config["StoppingCondition"]["MaxWaitTimeInSeconds"] = " 7200 "
    prepared = prepare_config(config)
    assert prepared["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert prepared["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 7200,
    }
    assert prepared["EnableManagedSpotTraining"] is True


def test_hyperparameters_and_environment_become_strings() -> None:
    config = base_config()
    config["HyperParameters"] = {"epochs": 3, "lr": 0.5, "shuffle": True, "name": "x"}
    config["Environment"] = {"SEED": 7}
    prepared = prepare_config(config)
    assert prepared["HyperParameters"] == {
        "epochs": "3",
        "lr": "0.5",
        "shuffle": "true",
        "name": "x",
    }
    assert prepared["Environment"] == {"SEED": "7"}


def test_the_callers_config_is_not_modified() -> None:
    config = base_config()
    before = json.dumps(config, sort_keys=True)
    prepare_config(config)
    assert json.dumps(config, sort_keys=True) == before


def test_a_json_string_is_accepted() -> None:
    assert prepare_config(json.dumps(base_config()))["TrainingJobName"] == "job"


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("{not json", "not valid JSON"),
        (42, "must be a dict"),
        ({**base_config(), "RoleArn": 5}, "RoleArn"),
        ({k: v for k, v in base_config().items() if k != "TrainingJobName"}, "TrainingJobName"),
        (
            {**base_config(), "ResourceConfig": {"InstanceCount": "1.5x"}},
            "ResourceConfig.InstanceCount",
        ),
    ],
)
def test_bad_configs_name_the_problem(config: object, words: str) -> None:
    with pytest.raises(InvalidConfigError, match=words):
        prepare_config(config)
