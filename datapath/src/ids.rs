//! The ids the datapath's tables, counters and stages share, and the one
//! enum for "a port, a vif or the uplink". Imports nothing of the crate.
//!
//! Ids are dense indexes: a vif id is the slot of the vif's interface in its
//! worker, a port id the port's stable slot (also the index of its
//! counters), a switch id the position in the snapshot's switch list, a TEP
//! id the position in its remote-TEP list. Each is its own type, so one
//! cannot be passed for another.

/// A MAC address.
pub type Mac = [u8; 6];

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $inner);

        impl $name {
            /// The id as an index into the tables it names.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id!(
    /// A logical port's slot.
    PortId(u32)
);
id!(
    /// A vif's slot in its worker.
    VifId(u32)
);
id!(
    /// A logical switch's position in the snapshot.
    SwitchId(u32)
);
id!(
    /// A remote TEP's position in the snapshot.
    TepId(u32)
);

/// Where a frame enters or leaves the switch, and which counters it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endpoint {
    /// A logical port (its frames as the pod sees them, untagged).
    Port(PortId),
    /// A vif: a VM's vNIC, carrying the tagged frames of all its ports.
    Vif(VifId),
    /// The uplink toward the underlay.
    #[default]
    Uplink,
}
