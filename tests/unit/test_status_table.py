"""The tables of `wmiput status` (host/status_command.py), from plain data: no I/O."""

from __future__ import annotations

from host import status_command as sc
from wmiput.v1 import services_pb2 as api

NOW = 1_800_000_000_000


def snap(**over: object) -> dict:
    provider = sc.provider_dict(api.ProviderInfo(
        name="Inventory", namespace="root\\cimv2", supports_put=True, classes=["Example_Asset", "Example_Other"],
        backlog=3, pending=1, oldest_pending_ms=250,
        workers=[api.WorkerInfo(worker_id="box:11:abc", hostname="box", pid=11, last_seen_unix_ms=NOW - 400,
                                tasks_in_flight=1),
                 api.WorkerInfo(worker_id="box:12:def", hostname="box", pid=12, last_seen_unix_ms=NOW - 1500)]),
        NOW)
    idle = sc.provider_dict(api.ProviderInfo(name="DiskQuota", supports_put=False), NOW)
    tx = sc.transaction_dict(api.TransactionInfo(
        transaction_id="0123abcd", namespace="root\\cimv2", class_name="Example_Asset",
        relpath='Example_Asset.AssetTag="a1"', state=api.TRANSACTION_STATE_PREPARING, owner_host="hostA",
        owner_alive=True, age_ms=65_000, providers=["Inventory"]))
    orphan = sc.transaction_dict(api.TransactionInfo(
        transaction_id="ffff0000", namespace="root\\cimv2", class_name="X", relpath='X.Id="1"',
        state=api.TRANSACTION_STATE_COMMITTING, owner_host="", age_ms=900, cancel_requested=True))
    base = {"namespace": "root\\cimv2", "generated_unix_ms": NOW, "providers": [provider, idle],
            "transactions": [tx, orphan], "transactions_unfinished": 5, "transactions_error": ""}
    base.update(over)
    return base


def test_the_tables_align_and_say_everything_at_a_glance():
    text = sc.render(snap())
    lines = text.splitlines()
    assert lines[0] == "PROVIDERS in root\\cimv2"
    assert lines[1].split() == ["PROVIDER", "PUT", "WORKERS", "BACKLOG", "PENDING", "OLDEST(ms)", "CLASSES"]
    assert lines[2].split() == ["Inventory", "yes", "2", "3", "1", "250", "Example_Asset,", "Example_Other"]
    assert lines[3].split() == ["DiskQuota", "no", "0", "0", "0", "0"]
    assert lines[1].index("BACKLOG") == lines[2].index("3")  # columns line up
    w = lines.index("LIVE WORKERS")
    assert lines[w + 1].split() == ["PROVIDER", "WORKER", "HOST", "PID", "HEARTBEAT", "IN", "FLIGHT"]
    assert lines[w + 2].split() == ["Inventory", "box:11:abc", "box", "11", "400ms", "ago", "1"]
    assert lines[w + 3].split() == ["Inventory", "box:12:def", "box", "12", "1.5s", "ago", "0"]
    t = lines.index("IN-DOUBT TRANSACTIONS (5 unfinished in all namespaces)")
    assert lines[t + 1].split() == ["TRANSACTION", "NAMESPACE", "CLASS", "STATE", "AGE", "OWNER", "PROVIDERS", "OBJECT"]
    assert lines[t + 2].split() == ["0123abcd", "root\\cimv2", "Example_Asset", "preparing", "1m05s", "hostA",
                                    "Inventory", 'Example_Asset.AssetTag="a1"']
    assert "committing (cancel asked)" in lines[t + 3] and "(recovery)" in lines[t + 3]
    assert all(line == line.rstrip() for line in lines)


def test_empty_sections_and_a_refused_transaction_list():
    text = sc.render(snap(providers=[], transactions=[], transactions_unfinished=0))
    assert "(none registered)" in text and "LIVE WORKERS\n(none)" in text
    assert text.endswith("IN-DOUBT TRANSACTIONS (0 unfinished in all namespaces)\n(none)")
    text = sc.render(snap(transactions=[], transactions_error="WBEM_E_ACCESS_DENIED: not an administrator"))
    assert text.endswith("IN-DOUBT TRANSACTIONS\n(not shown: WBEM_E_ACCESS_DENIED: not an administrator)")


def test_a_lapsed_owner_is_marked_and_ages_read_well():
    t = sc.transaction_dict(api.TransactionInfo(transaction_id="1", owner_host="hostB", owner_alive=False,
                                                state=api.TRANSACTION_STATE_ABORTING))
    assert "hostB (lapsed)" in sc.render(snap(transactions=[t])) and t["state"] == "aborting"
    assert [sc.age_text(ms) for ms in (0, 999, 1000, 59_949, 60_000, 3_599_000, 7_620_000)] == [
        "0ms", "999ms", "1.0s", "59.9s", "1m00s", "59m59s", "2h07m"]


def test_the_providers_command_table_is_unchanged():
    lines = sc.providers_table(snap()["providers"])
    assert lines == [
        "PROVIDER   PUT  WORKERS  BACKLOG  PENDING  OLDEST(ms)  CLASSES",
        "Inventory  yes  2        3        1        250         Example_Asset, Example_Other",
        "DiskQuota  no   0        0        0        0",
    ]
