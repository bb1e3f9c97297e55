"""Settings from flags and environment; the CLI's parsing; the public surface of the client."""

import pytest

import host.client
from host.cli import _typed, build_parser, main
from host.config import Settings
from wmiput.v1 import object_pb2 as pb


def test_a_flag_wins_over_the_environment_which_wins_over_the_default():
    env = {"WMIPUT_LISTEN": "127.0.0.1:6000", "WMIPUT_MAX_PROPERTIES": "10", "WMIPUT_GRACE_SECONDS": "2.5"}
    s = Settings.from_env(env, listen="127.0.0.1:7000")
    assert s.listen == "127.0.0.1:7000" and s.max_properties == 10 and s.grace_seconds == 2.5
    assert Settings.from_env({}).listen == "127.0.0.1:50051"
    assert s.limits().max_properties == 10


def test_a_malformed_environment_value_stops_with_a_clear_message():
    with pytest.raises(SystemExit, match="WMIPUT_MAX_PROPERTIES='many': expected int"):
        Settings.from_env({"WMIPUT_MAX_PROPERTIES": "many"})


def test_every_setting_is_a_serve_flag_with_its_environment_variable_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for name in ("--listen", "--redis-url", "--data-dir", "--max-message-bytes", "WMIPUT_APPENDFSYNC"):
        assert name in out


def test_command_line_values_are_typed_by_the_property():
    T = pb.CimType
    assert _typed("5", T.CIM_TYPE_UINT32, False) == 5
    assert _typed("0x10", T.CIM_TYPE_UINT32, False) == 16
    assert _typed("true", T.CIM_TYPE_BOOLEAN, False) is True
    assert _typed("null", T.CIM_TYPE_STRING, False) is None
    assert _typed('["a","b"]', T.CIM_TYPE_STRING, True) == ["a", "b"]
    assert _typed("[1,2]", T.CIM_TYPE_UINT8, True) == [1, 2]
    with pytest.raises(SystemExit):
        _typed("x", T.CIM_TYPE_UINT32, False)


def test_create_only_and_update_only_cannot_be_combined_on_the_command_line():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["put-instance", "C", "--create-only", "--update-only"])


def test_the_client_package_exports_exactly_its_public_names():
    public = {n for n in dir(host.client) if not n.startswith("_")}
    assert set(host.client.__all__) <= public
    for name in host.client.__all__:
        obj = getattr(host.client, name)
        if isinstance(obj, int):  # constants (INFINITE)
            continue
        assert obj.__module__.startswith(("host.client", "host.errors", "host.flags"))


def test_a_failed_call_exits_1_with_the_hresult_on_stderr(capsys):
    # Nothing listens on port 1: the transport failure is reported as an HRESULT, not a traceback.
    assert main(["get", "X", "--target", "127.0.0.1:1", "--timeout", "2"]) == 1
    assert "WBEM_E_TRANSPORT_FAILURE (0x80041015)" in capsys.readouterr().err


def test_docs_configuration_lists_every_setting():
    from dataclasses import fields
    from pathlib import Path

    from host.config import env_name

    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [env_name(f.name) for f in fields(Settings) if env_name(f.name) not in doc]
    assert missing == []
