//! Connection tracking for the distributed firewall: keys, bidirectional lookup, TCP/UDP/ICMP state machines, timeouts and expiry. Built by a later issue.
