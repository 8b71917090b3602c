"""The emulation backend: the CMS-TN made real on one machine.

- ``ovs_service``: the Open vSwitch daemons (userspace datapath) and ``ovs-vsctl`` queries;
- ``mininet_net``: the only module importing Mininet (network from the topology graph, hosts);
- ``driver``: the real-time replay of a load model's sessions between Mininet hosts;
- ``traffic_agent``: the process run on each host (TCP/UDP servers, fetchers, receiver counts);
- ``backend``: one emulated phase end to end (network, controller, replay, measurements).
"""
