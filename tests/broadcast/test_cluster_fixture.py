"""The test cluster itself: it starts, routes by slot, restarts and fails over (what the
cluster tests of the broadcast rely on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests._time_bound import time_bound

if TYPE_CHECKING:
    from ._cluster import LocalCluster


def test_the_session_cluster_has_three_masters_covering_every_slot(
    redis_cluster: LocalCluster,
) -> None:
    with time_bound(30):  # redis-cli calls, each with its own 2 s timeout
        masters = redis_cluster.masters()
        infos = [node.info() for node in masters]
        owners = {redis_cluster.owner_of(key).port for key in ("a", "b", "c", "d", "e", "f")}
    assert len(masters) == 3
    for info in infos:
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == "16384"
    assert len(owners) > 1  # keys spread over more than one master


def test_a_failover_promotes_the_replica_and_a_restart_keeps_the_node_id(
    own_redis_cluster: LocalCluster,
) -> None:
    cluster = own_redis_cluster
    with time_bound(120):  # a failover and a restart, each waiting for a healthy cluster
        assert len(cluster.masters()) == 3
        old_master = cluster.owner_of("room")
        new_master = cluster.failover(old_master)
        assert cluster.owner_of("room") is new_master
        assert old_master.role() == "slave"
        node_id = new_master.node_id()
        cluster.restart(new_master)
        assert new_master.node_id() == node_id
