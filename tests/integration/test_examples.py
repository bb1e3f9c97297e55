"""The bundled example providers, as `wmiput serve --example-providers` runs them."""

import pytest

from host.client import WbemError, WbemFlag, instance, to_dict
from tests.provider_env import Workers, wait_live
from workers import examples
from workers.examples.inventory import read_items
from workers.examples.quota import DiskQuotaProvider


@pytest.fixture
async def example_workers(client, tmp_path, redis_url, key_prefix):
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        for name, spec in examples.PROVIDERS.items():
            w.start(name, provider=spec)
        await examples.install(client)
        await wait_live(client, *examples.PROVIDERS)
        yield w
    finally:
        w.stop_all()


async def test_a_share_lands_in_the_inventory_and_the_quota_store_or_in_neither(client, example_workers, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    await client.put_instance(instance("Example_Share", AssetTag="s1", Owner="ann", Path=str(share), LimitMB=1))
    quotas = DiskQuotaProvider(data_dir=str(example_workers.data_dir)).quotas()
    assert [q["AssetTag"] for q in quotas] == ["s1"]
    assert read_items(example_workers.data_dir / "Inventory.sqlite")['example_share.assettag="s1"']["Owner"] == "ann"

    for bad in ({"Path": str(tmp_path / "missing"), "LimitMB": 1}, {"Path": str(share), "LimitMB": 2**31}):
        with pytest.raises(WbemError) as e:
            await client.put_instance(instance("Example_Share", AssetTag="s2", **bad))
        assert e.value.name == "WBEM_E_INVALID_PARAMETER" and e.value.provider_name == "DiskQuota"
    assert 'example_share.assettag="s2"' not in read_items(example_workers.data_dir / "Inventory.sqlite")
    assert len(DiskQuotaProvider(data_dir=str(example_workers.data_dir)).quotas()) == 1

    with pytest.raises(WbemError, match="WBEM_E_ALREADY_EXISTS"):
        await client.put_instance(instance("Example_Share", AssetTag="s1", Path=str(share), LimitMB=1),
                                  WbemFlag.CREATE_ONLY)
    providers = {p.name: p for p in await client.list_providers()}
    assert providers["Inventory"].classes == ["Example_Asset"] and providers["DiskQuota"].workers
    assert to_dict(await client.get_object("Example_Share"))["__DERIVATION"] == ["Example_Asset"]


async def test_install_examples_from_the_cli_is_idempotent(host, client):
    import asyncio
    import subprocess
    import sys

    for _ in range(2):
        out = await asyncio.to_thread(  # in a thread: the host answering it runs on this event loop
            subprocess.run, [sys.executable, "-m", "host.cli", "install-examples", "--target", host.target],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "installed Inventory, DiskQuota" in out.stdout, out.stderr
    assert {p.name for p in await client.list_providers()} >= set(examples.PROVIDERS)
    assert (await client.get_object("Example_Share")).superclass == "Example_Asset"


async def test_a_worker_configured_by_environment_variables_alone(client, tmp_path, redis_url, key_prefix):
    """What deploy/ does: no flags, only WMIPUT_* variables."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "WMIPUT_REDIS_URL": redis_url, "WMIPUT_PREFIX": key_prefix,
           "WMIPUT_NAMESPACE": "root\\cimv2", "WMIPUT_PROVIDERS": examples.PROVIDERS["Inventory"],
           "WMIPUT_PROVIDER_OPTIONS": f"data_dir={tmp_path},name=Inventory", "WMIPUT_WORKER_CONCURRENCY": "4",
           "WMIPUT_LOG_FORMAT": "json"}
    with open(tmp_path / "worker.log", "ab") as log:
        p = subprocess.Popen([sys.executable, "-m", "host.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
                             stderr=log, start_new_session=True)
    try:
        await examples.install(client)
        await wait_live(client, "Inventory")
        await client.put_instance(instance("Example_Asset", AssetTag="env1", Owner="ann"))
        assert 'example_asset.assettag="env1"' in read_items(tmp_path / "Inventory.sqlite")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    bad = subprocess.run([sys.executable, "-m", "host.cli", "worker"], capture_output=True, text=True, timeout=60,
                         env={**env, "WMIPUT_PROVIDERS": ""})
    assert bad.returncode != 0 and "WMIPUT_PROVIDERS" in bad.stderr
