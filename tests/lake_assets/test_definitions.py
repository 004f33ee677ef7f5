from dagster import AssetKey


def test_lake_location_loads_with_its_assets():
    from lake_assets.definitions import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    expected = {
        AssetKey(["lake", name])
        for name in (
            "bronze_flights",
            "silver_flights",
            "quarantined_flights",
            "gold_dep_delay_by_date",
            "delay_anomalies",
            "warehouse_delay_table",
        )
    }
    assert expected <= set(keys)
    graph = defs.resolve_asset_graph()
    for key in expected:
        node = graph.get(key)
        assert node.group_name == "lake"
        assert "team:lake" in node.owners
        assert (
            node.partitions_def is not None and "2013" in node.partitions_def.get_partition_keys()
        )
    assert "warehouse" in defs.resources
