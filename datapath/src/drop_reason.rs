//! Why a frame was dropped. Every drop in the datapath has exactly one of
//! these reasons and is counted under it on the port, vif or uplink where it
//! happened. Imports nothing of the crate.

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Why a frame was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(usize)]
        pub enum DropReason {
            $($(#[$doc])* $variant,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable name used in stats, metrics labels and docs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

reasons! {
    /// Tagged with a VLAN id (or untagged) that no logical port of the vif has.
    UnknownVlan => "unknown_vlan",
    /// Geneve with a VNI that no logical switch has.
    UnknownVni => "unknown_vni",
    /// A header breaks its protocol's rules: truncated, a length field
    /// shorter than the header or longer than the frame, a version that
    /// contradicts the EtherType, a TCP data offset below 5, a UDP length
    /// below 8, an IPv6 extension chain past the packet, a stacked or
    /// tagged-inner VLAN, a first fragment without its whole L4 header, a
    /// tiny or overlapping fragment offset.
    Malformed => "malformed",
    /// The remote TEP has no resolved next hop on the uplink.
    NoRouteToTep => "no_route_to_tep",
    /// Larger than the uplink MTU once Geneve-encapsulated.
    TooBigForUplink => "too_big_for_uplink",
    /// Nowhere to send it: unicast back to its own port, a remote MAC
    /// arriving from the uplink, or a switch with no other member.
    NoDestination => "no_destination",
    /// Sent to a vif or uplink whose transmit ring was full.
    TxRingFull => "tx_ring_full",
    /// No free frame to copy a flooded frame into.
    NoBuffer => "no_buffer",
    /// The remote TEP needs a local TEP and none is configured.
    NoLocalTep => "no_local_tep",
    /// Spoofguard: the source MAC is not the port's.
    SpoofguardMac => "spoofguard_mac",
    /// Spoofguard: the IPv4/IPv6 source address is not one of the port's.
    SpoofguardIp => "spoofguard_ip",
    /// Spoofguard: an ARP sender MAC or IP that is not the port's.
    SpoofguardArp => "spoofguard_arp",
    /// Spoofguard: an IPv6 neighbour advertisement or solicitation for an
    /// address or with a link-layer address that is not the port's.
    SpoofguardNd => "spoofguard_nd",
    /// A DHCP server message (UDP 67 → 68, DHCPv6 547 → 546) sent by a port.
    DhcpGuard => "dhcp_guard",
    /// An IPv6 router advertisement sent by a port, behind any extension
    /// headers or in a first fragment.
    RaGuard => "ra_guard",
    /// Uplink: the outer Ethernet/IPv4/UDP headers of a Geneve packet are
    /// truncated or inconsistent (not IPv4, bad IPv4 header, UDP length).
    GeneveOuter => "geneve_outer",
    /// Uplink: a wrong outer IPv4 header or UDP checksum.
    GeneveChecksum => "geneve_checksum",
    /// Uplink: an outer IPv4 fragment (xvswitchd does not reassemble).
    GeneveFragment => "geneve_fragment",
    /// Uplink: the Geneve header, its options or the inner Ethernet header
    /// run past the packet.
    GeneveTruncated => "geneve_truncated",
    /// Uplink: a Geneve version other than 0.
    GeneveVersion => "geneve_version",
    /// Uplink: a critical Geneve option this endpoint does not understand
    /// (RFC 8926, 3.5).
    GeneveCriticalOption => "geneve_critical_option",
    /// Uplink: a Geneve protocol type other than Ethernet (0x6558).
    GeneveProtocol => "geneve_protocol",
    /// Uplink: a Geneve control packet (O bit): never forwarded (RFC 8926, 3.4).
    GeneveOam => "geneve_oam",
    /// A firewall rule dropped it, or the port's default action is drop.
    FirewallDrop => "firewall_drop",
    /// A firewall reject rule refused it (and answered the source with a
    /// TCP RST or an ICMP/ICMPv6 administratively prohibited).
    FirewallReject => "firewall_reject",
    /// Connection tracking found it invalid: a TCP segment or RST outside
    /// the window, impossible flags or state.
    ConntrackInvalid => "conntrack_invalid",
    /// A new connection, with the connection table (total, or the port's
    /// share) full.
    ConntrackFull => "conntrack_full",
    /// Strict mode: TCP other than a SYN for a connection not tracked.
    ConntrackStrict => "conntrack_strict",
    /// A fragment past the first, whose first fragment was not seen (or
    /// its verdict has expired).
    FragmentNoFirst => "fragment_no_first",
    /// Several workers: the ring to the worker that owns the frame's flow
    /// was full (that worker is behind).
    HandoffRingFull => "handoff_ring_full",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counter_order_is_the_discriminant() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn a_full_handoff_ring_has_its_own_reason() {
        assert_eq!(DropReason::HandoffRingFull.as_str(), "handoff_ring_full");
        assert_eq!(DropReason::ALL.last(), Some(&DropReason::HandoffRingFull));
    }
}
