"""The CPUs a process may use (``resources.cpus``): the lake's parsing threads and the
daily run's sampler threads are sized by it."""

from resources.cpus import usable_cpus


def test_usable_cpus_follow_the_cgroup_cpu_quota(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # a pod limited to one CPU
    assert usable_cpus(str(quota)) == 1
    quota.write_text("150000 100000\n")
    assert usable_cpus(str(quota)) == min(2, usable_cpus(str(tmp_path / "none")))
    quota.write_text("max 100000\n")
    assert usable_cpus(str(quota)) == usable_cpus(str(tmp_path / "none")) >= 1
