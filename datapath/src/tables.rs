//! The forwarding tables a worker reads: built from a validated
//! [`control::Config`] into an immutable [`Tables`] snapshot.
//!
//! Ids are dense indexes: a vif id is the vif's position among the daemon's
//! interfaces, a port id is a stable slot from [`PortSlots`] (also the index
//! of the port's counters), a TEP id is the position in `remote_teps`.

use std::{
    collections::HashMap as StdHashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use control::Config;
use hashbrown::HashMap;

use crate::firewall::compile::{CompileError, FirewallTables};

pub use crate::ids::{Mac, PortId, SwitchId, TepId, VifId};

const NO_PORT: PortId = PortId(u32::MAX);

/// What a logical port may send (spoofguard, DHCP and RA guards), built
/// from its configuration; `pipeline::guards` checks frames against it.
#[derive(Debug, Clone)]
pub struct PortGuard {
    pub mac: Mac,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// fe80::/64 with the modified EUI-64 of `mac`.
    pub link_local: Ipv6Addr,
    pub spoofguard: bool,
    pub dhcp_guard: bool,
    pub ra_guard: bool,
}

/// The IPv6 link-local address a host derives from its MAC (RFC 4291, A).
pub fn link_local(mac: &Mac) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    Ipv6Addr::from(a)
}

/// Where a destination MAC lives on a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Dest {
    Local(PortId),
    Remote(TepId),
}

/// (VLAN id) → logical port for one vif.
pub struct VifTable {
    pub name: String,
    by_vlan: Box<[PortId]>,
    untagged: PortId,
}

impl VifTable {
    /// The port of a frame tagged `vlan` (`None` = untagged or priority-tagged).
    #[inline]
    pub fn port(&self, vlan: Option<u16>) -> Option<PortId> {
        let id = match vlan {
            None | Some(0) => self.untagged,
            Some(v) => *self.by_vlan.get(usize::from(v))?,
        };
        (id != NO_PORT).then_some(id)
    }
}

#[derive(Debug)]
pub struct PortEntry {
    pub name: String,
    pub vif: VifId,
    pub vlan: Option<u16>,
    pub switch: SwitchId,
    pub mac: Mac,
    /// What the port may send (spoofguard, DHCP and RA guards).
    pub guard: PortGuard,
}

#[derive(Debug)]
pub struct SwitchEntry {
    pub name: String,
    pub vni: u32,
    pub macs: HashMap<Mac, L2Dest>,
    /// Flood targets: every local port, every remote TEP of the switch.
    pub local_ports: Vec<PortId>,
    pub remote_teps: Vec<TepId>,
}

/// The local end of the overlay, with what the kernel says of the uplink.
#[derive(Debug, Clone)]
pub struct LocalTep {
    pub ip: Ipv4Addr,
    pub uplink: String,
    pub uplink_mac: Mac,
    /// Largest outer IPv4 packet the uplink carries.
    pub mtu: u32,
}

/// One immutable forwarding snapshot.
pub struct Tables {
    /// The distributed firewall: classifier, rules, per-port settings.
    pub firewall: FirewallTables,
    /// Indexed by vif id; `None` for free slots.
    pub vifs: Vec<Option<VifTable>>,
    /// Indexed by port id; `None` for free slots.
    pub ports: Vec<Option<PortEntry>>,
    pub switches: Vec<SwitchEntry>,
    pub vni_to_switch: HashMap<u32, SwitchId>,
    pub remote_teps: Vec<Ipv4Addr>,
    pub local_tep: Option<LocalTep>,
}

/// Stable id allocation by name: an object keeps its slot (and so its
/// counters) for as long as it exists; freed slots are reused lowest first.
#[derive(Debug, Clone)]
pub struct Slots {
    capacity: usize,
    by_name: StdHashMap<String, u32>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TablesError {
    #[error("too many {kind}: at most {capacity} are supported")]
    Full { kind: &'static str, capacity: usize },
    #[error("vif \"{0}\" is not attached to the datapath")]
    VifNotAttached(String),
    #[error(transparent)]
    Firewall(#[from] CompileError),
}

impl Slots {
    pub fn new(capacity: usize) -> Slots {
        Slots {
            capacity,
            by_name: StdHashMap::new(),
        }
    }

    /// The slot of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The slot of `name`, allocating one if needed.
    pub fn assign(&mut self, kind: &'static str, name: &str) -> Result<u32, TablesError> {
        if let Some(id) = self.get(name) {
            return Ok(id);
        }
        let used: std::collections::HashSet<u32> = self.by_name.values().copied().collect();
        let id = (0..self.capacity as u32)
            .find(|i| !used.contains(i))
            .ok_or(TablesError::Full {
                kind,
                capacity: self.capacity,
            })?;
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// Frees every slot whose name is not in `keep`.
    pub fn retain(&mut self, keep: &[&str]) {
        self.by_name.retain(|n, _| keep.contains(&n.as_str()));
    }

    pub fn release(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

impl Tables {
    /// Builds the tables for a validated config. `vif_slot` gives the slot
    /// of every attached vif (the worker's index of its interface); ports get
    /// their slots from `port_slots` (slots of ports no longer configured are
    /// freed); `local_tep` is the resolved local TEP (None if the config has
    /// none); rules get their hit-counter slots from `rule_slots`. The
    /// firewall's generation starts at 0: the caller makes it follow the
    /// running snapshot's ([`FirewallTables::follow`]).
    pub fn build(
        config: &Config,
        vif_slot: impl Fn(&str) -> Option<VifId>,
        local_tep: Option<LocalTep>,
        port_slots: &mut Slots,
        rule_slots: &mut Slots,
    ) -> Result<Tables, TablesError> {
        let mut vifs: Vec<Option<VifTable>> = Vec::new();
        for v in &config.vifs {
            let Some(slot) = vif_slot(&v.name) else {
                return Err(TablesError::VifNotAttached(v.name.clone()));
            };
            if vifs.len() <= slot.index() {
                vifs.resize_with(slot.index() + 1, || None);
            }
            vifs[slot.index()] = Some(VifTable {
                name: v.name.clone(),
                by_vlan: vec![NO_PORT; 4096].into_boxed_slice(),
                untagged: NO_PORT,
            });
        }

        let mut remote_teps: Vec<Ipv4Addr> = Vec::new();
        let tep_id = |ip: Ipv4Addr, teps: &mut Vec<Ipv4Addr>| -> TepId {
            TepId(teps.iter().position(|t| *t == ip).unwrap_or_else(|| {
                teps.push(ip);
                teps.len() - 1
            }) as u32)
        };

        let mut switches = Vec::with_capacity(config.switches.len());
        let mut switch_index: StdHashMap<&str, SwitchId> = StdHashMap::new();
        let mut vni_to_switch = HashMap::new();
        for (i, s) in config.switches.iter().enumerate() {
            let mut macs = HashMap::new();
            let flood = s
                .remote_teps
                .iter()
                .map(|ip| tep_id(*ip, &mut remote_teps))
                .collect();
            for rm in &s.remote_macs {
                macs.insert(rm.mac.0, L2Dest::Remote(tep_id(rm.tep, &mut remote_teps)));
            }
            switches.push(SwitchEntry {
                name: s.name.clone(),
                vni: s.vni,
                macs,
                local_ports: Vec::new(),
                remote_teps: flood,
            });
            switch_index.insert(s.name.as_str(), SwitchId(i as u32));
            vni_to_switch.insert(s.vni, SwitchId(i as u32));
        }

        let names: Vec<&str> = config.ports.iter().map(|p| p.name.as_str()).collect();
        port_slots.retain(&names);
        let mut ports: Vec<Option<PortEntry>> = Vec::new();
        for p in &config.ports {
            let id = PortId(port_slots.assign("logical ports", &p.name)?);
            let vif = vif_slot(&p.vif).ok_or_else(|| TablesError::VifNotAttached(p.vif.clone()))?;
            let switch = switch_index[p.switch.as_str()];
            let table = vifs[vif.index()]
                .as_mut()
                .expect("every configured vif has a table");
            match p.vlan {
                Some(v) => table.by_vlan[v as usize] = id,
                None => table.untagged = id,
            }
            switches[switch.index()].local_ports.push(id);
            switches[switch.index()]
                .macs
                .insert(p.mac.0, L2Dest::Local(id));
            if ports.len() <= id.index() {
                ports.resize_with(id.index() + 1, || None);
            }
            ports[id.index()] = Some(PortEntry {
                name: p.name.clone(),
                vif,
                vlan: p.vlan,
                switch,
                mac: p.mac.0,
                guard: PortGuard {
                    mac: p.mac.0,
                    ipv4: p
                        .ips
                        .iter()
                        .filter_map(|ip| match ip {
                            IpAddr::V4(a) => Some(*a),
                            IpAddr::V6(_) => None,
                        })
                        .collect(),
                    ipv6: p
                        .ips
                        .iter()
                        .filter_map(|ip| match ip {
                            IpAddr::V6(a) => Some(*a),
                            IpAddr::V4(_) => None,
                        })
                        .collect(),
                    link_local: link_local(&p.mac.0),
                    spoofguard: p.spoofguard,
                    dhcp_guard: p.dhcp_guard,
                    ra_guard: p.ra_guard,
                },
            });
        }

        let firewall = FirewallTables::build(
            config,
            |name| Some(PortId(port_slots.get(name)?)),
            rule_slots,
        )?;
        Ok(Tables {
            firewall,
            vifs,
            ports,
            switches,
            vni_to_switch,
            remote_teps,
            local_tep,
        })
    }

    /// The tables of an empty configuration: what a worker starts with.
    pub fn empty() -> Tables {
        Tables::build(
            &Config::default(),
            |_| None,
            None,
            &mut Slots::new(1),
            &mut Slots::new(1),
        )
        .expect("an empty configuration always builds")
    }

    #[inline]
    pub fn vif(&self, id: VifId) -> Option<&VifTable> {
        self.vifs.get(id.index())?.as_ref()
    }

    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortEntry> {
        self.ports.get(id.index())?.as_ref()
    }

    /// A switch of this snapshot (ids come from the snapshot itself).
    #[inline]
    pub fn switch(&self, id: SwitchId) -> &SwitchEntry {
        &self.switches[id.index()]
    }

    #[inline]
    pub fn remote_tep(&self, id: TepId) -> Ipv4Addr {
        self.remote_teps[id.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::MAX_PORTS;

    const CONFIG: &str = r#"{
      "local_tep": {"uplink": "up0", "ip": "198.18.0.1"},
      "switches": [
        {"name": "blue", "vni": 5001, "remote_teps": ["198.18.0.2"],
         "remote_macs": [{"mac": "02:00:00:00:02:01", "tep": "198.18.0.2"}]},
        {"name": "green", "vni": 5002}
      ],
      "vifs": [{"name": "vm1", "interface": "vif-vm1"}, {"name": "vm2", "interface": "vif-vm2"}],
      "ports": [
        {"name": "a", "vif": "vm1", "vlan": 101, "switch": "blue", "mac": "02:00:00:00:01:01"},
        {"name": "b", "vif": "vm1", "vlan": 102, "switch": "green", "mac": "02:00:00:00:01:02"},
        {"name": "node", "vif": "vm2", "switch": "blue", "mac": "02:00:00:00:01:03"}
      ]
    }"#;

    fn build(slots: &mut Slots, json: &str) -> Tables {
        let c = Config::from_json(json).unwrap();
        let mut vifs = Slots::new(16);
        for v in &c.vifs {
            vifs.assign("vifs", &v.name).unwrap();
        }
        Tables::build(
            &c,
            |n| vifs.get(n).map(VifId),
            None,
            slots,
            &mut Slots::new(16),
        )
        .unwrap()
    }

    #[test]
    fn maps_vlans_macs_and_flood_lists() {
        let t = build(&mut Slots::new(MAX_PORTS), CONFIG);
        let a = t.vif(VifId(0)).unwrap().port(Some(101)).unwrap();
        assert_eq!(t.port(a).unwrap().name, "a");
        assert_eq!(t.vif(VifId(0)).unwrap().port(Some(103)), None);
        assert_eq!(t.vif(VifId(0)).unwrap().port(None), None);
        let node = t.vif(VifId(1)).unwrap().port(None).unwrap();
        assert_eq!(
            t.vif(VifId(1)).unwrap().port(Some(0)),
            Some(node),
            "priority tag = untagged"
        );
        let blue = t.vni_to_switch[&5001];
        let sw = t.switch(blue);
        assert_eq!(sw.local_ports, vec![a, node]);
        assert_eq!(sw.remote_teps, vec![TepId(0)]);
        assert_eq!(sw.macs[&[2, 0, 0, 0, 2, 1]], L2Dest::Remote(TepId(0)));
        assert_eq!(sw.macs[&[2, 0, 0, 0, 1, 1]], L2Dest::Local(a));
        assert!(!sw.macs.contains_key(&[2, 0, 0, 0, 1, 2]), "b is on green");
        assert_eq!(
            t.remote_teps,
            vec!["198.18.0.2".parse::<Ipv4Addr>().unwrap()]
        );
    }

    #[test]
    fn port_slots_are_stable_across_rebuilds() {
        let mut slots = Slots::new(MAX_PORTS);
        let t1 = build(&mut slots, CONFIG);
        let node1 = t1.vif(VifId(1)).unwrap().port(None).unwrap();
        let without_a = CONFIG.replace(
            r#"{"name": "a", "vif": "vm1", "vlan": 101, "switch": "blue", "mac": "02:00:00:00:01:01"},"#,
            "",
        );
        let t2 = build(&mut slots, &without_a);
        assert_eq!(t2.vif(VifId(1)).unwrap().port(None).unwrap(), node1);
        assert_eq!(t2.vif(VifId(0)).unwrap().port(Some(101)), None);
    }
}
