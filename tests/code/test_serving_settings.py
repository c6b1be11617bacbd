"""serving.settings: the bento's recorded serving settings, with the environment on top."""

import pytest

from components.config import load_config
from components.errors import ModpipeError
from components.serving_config import ServingConfig
from serving.settings import resolve_settings, settings_env_name


def test_defaults_without_a_recording_or_variables():
    settings = resolve_settings(None, environ={})
    assert settings == ServingConfig()
    assert (settings.max_texts, settings.max_text_chars, settings.quantize) == (256, 10_000, False)


def test_the_environment_overrides_what_the_bento_recorded():
    recorded = ServingConfig(max_texts=32, quantize=True).model_dump()
    environ = {settings_env_name("max_texts"): "8", "MODPIPE_SERVE_UNRELATED_NAME": "x"}
    settings = resolve_settings(recorded, environ)
    assert settings.max_texts == 8  # from the environment
    assert settings.quantize is True  # as recorded


def test_a_bad_variable_is_named_in_one_clear_error():
    with pytest.raises(ModpipeError, match="max_texts") as error:
        resolve_settings(None, environ={settings_env_name("max_texts"): "many"})
    assert "serving settings" in str(error.value)


def test_the_body_limit_leaves_room_for_the_largest_valid_request():
    settings = ServingConfig(max_texts=4, max_text_chars=100)
    escaped = '{"input": [' + ", ".join(['"' + "\\u00e9" * 100 + '"'] * 4) + "]}"
    assert len(escaped.encode()) <= settings.body_limit
    assert ServingConfig(max_body_bytes=5000).body_limit == 5000


def test_pipeline_presets_carry_serving_settings(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("serving:\n  max_texts: 16\n  quantize: true\n")
    assert load_config(preset).serving == ServingConfig(max_texts=16, quantize=True)
    preset.write_text("serving:\n  max_text: 16\n")
    with pytest.raises(ModpipeError, match="max_text"):
        load_config(preset)


@pytest.mark.parametrize(
    "field, text, value",
    [
        ("max_texts", "64", 64),
        ("quantize", "true", True),
        ("quantize", "True", True),  # what `modpipe serve --quantize` passes on
        ("request_timeout_s", "2.5", 2.5),
        ("request_timeout_s", "1e1", 10.0),  # YAML 1.2's float, as in a preset
        ("request_timeout_s", "5", 5.0),  # an int where a float is wanted
        ("max_body_bytes", "", None),  # unset: room for the largest valid request
    ],
)
def test_variables_are_read_as_yaml_scalars(field, text, value):
    settings = resolve_settings(None, environ={settings_env_name(field): text})
    assert getattr(settings, field) == value
    assert type(getattr(settings, field)) is type(value)


@pytest.mark.parametrize(
    "field, text",
    [
        ("workers", "true"),
        ("max_texts", "4.0"),
        ("max_texts", "64 texts"),
        ("quantize", "1"),
        ("request_timeout_s", "fast"),
        ("max_connections", "[512]"),
    ],
)
def test_a_variable_of_another_type_is_refused_naming_it(field, text):
    with pytest.raises(ModpipeError) as error:
        resolve_settings(None, environ={settings_env_name(field): text})
    message = str(error.value)
    assert settings_env_name(field) in message and f"{field}:" in message
    assert "\n" not in message


def test_recorded_settings_are_strict_too():
    with pytest.raises(ModpipeError, match="max_texts"):
        resolve_settings({"max_texts": True}, environ={})
