"""Which WebSocket endpoints a Stream connection opens (airflow_dtcal.core.stream_endpoint): the gateway's
answer is untrusted; only DingTalk's Stream host (TLS, port 443), a host under the connection's configured
suffix, or the connection's own loopback host (the emulator) pass."""

from __future__ import annotations

import pytest

from airflow_dtcal.core.settings import resolve_settings
from airflow_dtcal.core.stream_endpoint import check_endpoint, public_address
from airflow_dtcal.exceptions import DingTalkAnswerError, DingTalkConfigurationError

DINGTALK = "https://api.dingtalk.com"
EMULATOR = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("endpoint", "base_url", "suffix", "host", "own"),
    [
        (
            "wss://wss-open-connection.dingtalk.com/connect",
            DINGTALK,
            "",
            "wss-open-connection.dingtalk.com",
            False,
        ),
        (
            "wss://WSS-Open-Connection.dingtalk.com:443/c?x=1",
            DINGTALK,
            "",
            "wss-open-connection.dingtalk.com",
            False,
        ),
        ("wss://gw2.stream.dingtalk.com/c", DINGTALK, ".dingtalk.com", "gw2.stream.dingtalk.com", False),
        ("ws://127.0.0.1:8765/gateway/connect", EMULATOR, "", "127.0.0.1", True),
        ("ws://localhost:1/x", "http://localhost:1", "", "localhost", True),
        (
            "wss://wss-open-connection.dingtalk.com/connect",
            EMULATOR,
            "",
            "wss-open-connection.dingtalk.com",
            False,
        ),
    ],
)
def test_endpoints_on_dingtalks_stream_host_or_the_connections_own_loopback_host_pass(
    endpoint, base_url, suffix, host, own
):
    checked = check_endpoint(endpoint, base_url, suffix)
    assert (checked.url, checked.host, checked.own) == (endpoint, host, own)


@pytest.mark.parametrize(
    ("endpoint", "base_url", "suffix", "words"),
    [
        ("ws://wss-open-connection.dingtalk.com/x", DINGTALK, "", "must be wss://"),
        ("wss://wss-open-connection.dingtalk.com:8443/x", DINGTALK, "", "port 443"),
        ("wss://wss-open-connection.dingtalk.com.evil.example/x", DINGTALK, "", "not DingTalk's Stream host"),
        ("wss://evil-dingtalk.com/x", DINGTALK, ".dingtalk.com", "not DingTalk's Stream host"),
        ("wss://169.254.169.254/latest", DINGTALK, "", "not DingTalk's Stream host"),  # link-local
        ("wss://10.0.0.7/connect", DINGTALK, ".dingtalk.com", "not DingTalk's Stream host"),  # private
        ("wss://192.168.1.1/connect", EMULATOR, "", "not DingTalk's Stream host"),
        ("ws://127.0.0.1:9999/x", DINGTALK, "", "must be wss://"),  # loopback, but not the connection's host
        (
            "ws://localhost:8765/x",
            EMULATOR,
            "",
            "must be wss://",
        ),  # another loopback name than the connection's
        ("wss://user:pw@wss-open-connection.dingtalk.com/x", DINGTALK, "", "credentials"),
        ("http://127.0.0.1/x", EMULATOR, "", "must be wss://"),
        ("wss://wss-open-connection.dingtalk.com/a b", DINGTALK, "", "spaces"),
        ("wss://", DINGTALK, "", "must be wss://"),
        ("", DINGTALK, "", "no usable endpoint"),
        (None, DINGTALK, "", "no usable endpoint"),
        (5, DINGTALK, "", "no usable endpoint"),
        ("wss://x:99999/", DINGTALK, "", "port"),
    ],
)
def test_other_endpoints_are_refused_naming_the_rule(endpoint, base_url, suffix, words):
    with pytest.raises(DingTalkAnswerError, match=words):
        check_endpoint(endpoint, base_url, suffix)


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("203.0.113.9", False),  # documentation range: not global
        ("47.246.1.1", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped private
        ("2400:3200::1", True),
        ("not an address", False),
    ],
)
def test_only_public_addresses_are_connected_to(address, ok):
    assert public_address(address) is ok


def _settings(extras: dict):
    return resolve_settings(
        conn_id="c", host=None, schema=None, port=None, login="k", password="s", extras=extras, overrides={}
    )


def test_the_suffix_comes_from_a_connection_extra_and_is_checked():
    assert _settings({}).stream_host_suffix == ""
    assert _settings({"stream_host_suffix": "Stream.Example.com"}).stream_host_suffix == ".stream.example.com"
    assert _settings({"extra__dingtalk_calendar__stream_host_suffix": ".a.b"}).stream_host_suffix == ".a.b"
    for bad in ("com", ".", "*.example.com", "exa mple.com", 5):
        with pytest.raises(DingTalkConfigurationError, match="stream_host_suffix"):
            _settings({"stream_host_suffix": bad})
