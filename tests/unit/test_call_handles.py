"""Call handles: unguessable, distinct, and safe on a command line."""

import string

from host.calls.store import call_id, new_handle


def test_handles_are_distinct_url_safe_and_never_look_like_an_option():
    handles = [new_handle() for _ in range(20_000)]
    assert len(set(handles)) == len(handles)
    allowed = set(string.ascii_letters + string.digits + "-_")
    for h in handles:
        assert len(h) == 33 and not h.startswith("-") and set(h) <= allowed


def test_keys_name_a_call_by_a_digest_never_by_its_handle():
    h = new_handle()
    assert h not in call_id(h) and len(call_id(h)) == 32 and call_id(h) == call_id(h)
