"""Provider-backed puts with real worker processes: topmost first, all or nothing."""

from __future__ import annotations

import pytest

from host.client import WbemError, WbemFlag, instance, prop, wmi_class
from tests.provider_env import Workers, dynamic, register, wait_live


@pytest.fixture
async def chain(client, tmp_path, redis_url, key_prefix):
    """Prov_A <- Prov_B <- Prov_C, one provider per level, each in its own worker process."""
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        for n in ("LevelA", "LevelB", "LevelC"):
            await register(client, n)
        w.start("LevelA")
        w.start("LevelB", refuse_when="Color:red")
        w.start("LevelC", no_partial="")
        await client.put_class(dynamic("Prov_A", "LevelA", prop("Id", "string", key=True), prop("Color", "string"),
                                       prop("Size", "uint32")))
        await client.put_class(dynamic("Prov_B", "LevelB", prop("Shape", "string"), superclass="Prov_A"))
        await client.put_class(dynamic("Prov_C", "LevelC", prop("Weight", "uint32"), superclass="Prov_B"))
        await wait_live(client, "LevelA", "LevelB", "LevelC")
        yield w
    finally:
        w.stop_all()


async def test_providers_are_called_topmost_first_and_all_commit(client, chain):
    res = await client.put_instance(instance("Prov_C", Id="x1", Color="blue", Size=3, Shape="round", Weight=9))
    assert res.relpath == 'Prov_C.Id="x1"'
    calls = {n: [c for c in chain.calls(n) if c[2] == "prepare"] for n in ("LevelA", "LevelB", "LevelC")}
    assert [calls[n][0][3] for n in ("LevelA", "LevelB", "LevelC")] == ["Prov_A", "Prov_B", "Prov_C"]
    assert calls["LevelA"][0][4] < calls["LevelB"][0][4] < calls["LevelC"][0][4], "topmost first"
    for n in ("LevelA", "LevelB", "LevelC"):
        assert chain.items(n)['prov_c.id="x1"']["Weight"] == 9


async def test_a_put_of_the_middle_class_never_calls_the_subclass_provider(client, chain):
    await client.put_instance(instance("Prov_B", Id="m1", Shape="flat"))
    assert chain.calls("LevelC") == []
    assert 'prov_b.id="m1"' in chain.items("LevelA") and 'prov_b.id="m1"' in chain.items("LevelB")


async def test_a_refusal_at_a_middle_level_leaves_no_effect_at_any_level(client, chain):
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Prov_C", Id="r1", Color="red"))
    assert e.value.name == "WBEM_E_INVALID_PARAMETER" and e.value.provider_name == "LevelB"
    for n in ("LevelA", "LevelB", "LevelC"):
        assert 'prov_c.id="r1"' not in chain.items(n)
    assert chain.calls("LevelC") == [], "a level below the refusal is never asked"
    assert any(c[2] == "abort" for c in chain.calls("LevelA")), "the prepared level is aborted"


async def test_provider_not_capable_reaches_the_caller_and_partial_updates_touch_only_listed_properties(
        client, chain, tmp_path, redis_url, key_prefix):
    await client.put_instance(instance("Prov_B", Id="p1", Color="blue", Size=1, Shape="round"))
    ctx = {"__PUT_EXTENSIONS": True, "__PUT_EXT_PROPERTIES": ["Size"]}
    await client.put_instance(instance("Prov_B", Id="p1", Color="green", Size=5, Shape="square"),
                              WbemFlag.UPDATE_ONLY, context=ctx)
    for n in ("LevelA", "LevelB"):
        got = chain.items(n)['prov_b.id="p1"']
        assert (got["Size"], got["Color"], got["Shape"]) == (5, "blue", "round")
    # A provider that cannot do partial updates refuses them; the level above it is rolled back.
    await register(client, "NoPartial")
    chain.start("NoPartial", no_partial="1")
    await client.put_class(dynamic("Prov_NP", "NoPartial", prop("Note", "string"), superclass="Prov_A"))
    await wait_live(client, "NoPartial")
    await client.put_instance(instance("Prov_NP", Id="p2", Size=1, Note="n"))
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Prov_NP", Id="p2", Size=2), WbemFlag.UPDATE_ONLY, context=ctx)
    assert e.value.name == "WBEM_E_PROVIDER_NOT_CAPABLE" and e.value.provider_name == "NoPartial"
    assert chain.items("LevelA")['prov_np.id="p2"']["Size"] == 1
    assert chain.items("NoPartial")['prov_np.id="p2"']["Size"] == 1


async def test_a_static_parent_joins_the_transaction_through_the_repository(client, tmp_path, redis_url, key_prefix):
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, "Leaf")
        w.start("Leaf", refuse_when="Color:red")
        await client.put_class(wmi_class("Mix_Root", prop("Id", "string", key=True), prop("Color", "string")))
        await client.put_class(dynamic("Mix_Leaf", "Leaf", prop("Extra", "string"), superclass="Mix_Root"))
        await wait_live(client, "Leaf")
        await client.put_instance(instance("Mix_Leaf", Id="s1", Color="blue", Extra="e"))
        assert (await client.get_object('Mix_Root.Id="s1"')).class_name == "Mix_Leaf"
        assert 'mix_leaf.id="s1"' in w.items("Leaf")
        with pytest.raises(WbemError):
            await client.put_instance(instance("Mix_Leaf", Id="s2", Color="red"))
        with pytest.raises(WbemError, match="WBEM_E_NOT_FOUND"):
            await client.get_object('Mix_Root.Id="s2"')
        with pytest.raises(WbemError) as e:  # the repository refuses at prepare: the provider aborts
            await client.put_instance(instance("Mix_Leaf", Id="s1", Color="blue"), WbemFlag.CREATE_ONLY)
        assert e.value.name == "WBEM_E_ALREADY_EXISTS"
    finally:
        w.stop_all()


async def test_registration_errors_come_back_as_wmi_says(client, tmp_path, redis_url, key_prefix):
    await client.put_class(dynamic("Reg_None", "Nobody", prop("Id", "string", key=True)))
    with pytest.raises(WbemError, match="WBEM_E_PROVIDER_NOT_FOUND"):
        await client.put_instance(instance("Reg_None", Id="a"))
    await register(client, "NoPut", supports_put=False)
    await client.put_class(dynamic("Reg_NoPut", "NoPut", prop("Id", "string", key=True)))
    with pytest.raises(WbemError, match="WBEM_E_PROVIDER_NOT_CAPABLE"):
        await client.put_instance(instance("Reg_NoPut", Id="a"))
    await register(client, "Idle")
    await client.put_class(dynamic("Reg_Idle", "Idle", prop("Id", "string", key=True)))
    with pytest.raises(WbemError, match="WBEM_E_PROVIDER_LOAD_FAILURE"):
        await client.put_instance(instance("Reg_Idle", Id="a"))


async def test_a_single_provider_put_is_one_phase(client, tmp_path, redis_url, key_prefix):
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, "Solo")
        w.start("Solo")
        await client.put_class(dynamic("Solo_Item", "Solo", prop("Id", "string", key=True), prop("N", "uint32")))
        await wait_live(client, "Solo")
        await client.put_instance(instance("Solo_Item", Id="a", N=1))
        assert [c[2] for c in w.calls("Solo")] == ["prepare", "commit"]  # PUT = prepare + commit in one task
        with pytest.raises(WbemError, match="WBEM_E_ALREADY_EXISTS"):
            await client.put_instance(instance("Solo_Item", Id="a", N=2), WbemFlag.CREATE_ONLY)
        assert w.items("Solo")['solo_item.id="a"']["N"] == 1
    finally:
        w.stop_all()
