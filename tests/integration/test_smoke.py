"""The front door answers, end to end: a class hierarchy, instances, and an HRESULT on failure."""

import pytest

from host.client import WbemError, WbemFlag, instance, prop, to_dict, wmi_class


async def test_a_client_puts_a_hierarchy_and_reads_it_back(client):
    await client.put_class(wmi_class("Vendor_Base", prop("Id", "string", key=True), prop("N", "uint32", 5)))
    await client.put_class(wmi_class("Vendor_Sub", prop("Extra", "string"), superclass="Vendor_Base"))
    res = await client.put_instance(instance("Vendor_Sub", Id="a", Extra="x"))
    assert res.relpath == 'Vendor_Sub.Id="a"'
    got = to_dict(await client.get_object('Vendor_Base.Id="a"'))
    assert got["N"] == 5 and got["Extra"] == "x" and got["__DERIVATION"] == ["Vendor_Base"]
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Vendor_Sub", Id="a"), WbemFlag.CREATE_ONLY)
    assert e.value.name == "WBEM_E_ALREADY_EXISTS" and int(e.value.hresult) == 0x80041019
