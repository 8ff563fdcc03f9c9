//! The forwarding tables a worker reads: built from a validated
//! [`control::Config`] into an immutable [`Tables`] snapshot.
//!
//! Ids are dense indexes: a vif id is the vif's position among the daemon's
//! interfaces, a port id is a stable slot from [`PortSlots`] (also the index
//! of the port's counters), a TEP id is the position in `remote_teps`.

use std::{collections::HashMap as StdHashMap, net::Ipv4Addr};

use control::Config;
use hashbrown::HashMap;

use crate::counters::MAX_PORTS;

pub type PortId = u32;
pub type VifId = usize;
pub type SwitchId = usize;
pub type TepId = usize;
pub type Mac = [u8; 6];

const NO_PORT: PortId = PortId::MAX;

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
            Some(v) => *self.by_vlan.get(v as usize)?,
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
    pub vifs: Vec<VifTable>,
    /// Indexed by port id; `None` for free slots.
    pub ports: Vec<Option<PortEntry>>,
    pub switches: Vec<SwitchEntry>,
    pub vni_to_switch: HashMap<u32, SwitchId>,
    pub remote_teps: Vec<Ipv4Addr>,
    pub local_tep: Option<LocalTep>,
}

/// Stable port-id allocation: a port keeps its slot (and so its counters)
/// across snapshots for as long as it exists.
#[derive(Default)]
pub struct PortSlots {
    by_name: StdHashMap<String, PortId>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TablesError {
    #[error("too many logical ports: at most {MAX_PORTS} are supported")]
    TooManyPorts,
    #[error("vif \"{0}\" is not attached to the datapath")]
    VifNotAttached(String),
}

impl PortSlots {
    /// Slots for `names`, reusing existing ones, freeing those not listed.
    fn assign(&mut self, names: &[&str]) -> Result<Vec<PortId>, TablesError> {
        self.by_name.retain(|n, _| names.contains(&n.as_str()));
        let mut used: Vec<bool> = vec![false; MAX_PORTS];
        for id in self.by_name.values() {
            used[*id as usize] = true;
        }
        let mut next = 0usize;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(id) = self.by_name.get(*name) {
                out.push(*id);
                continue;
            }
            while next < MAX_PORTS && used[next] {
                next += 1;
            }
            if next == MAX_PORTS {
                return Err(TablesError::TooManyPorts);
            }
            used[next] = true;
            self.by_name.insert((*name).to_string(), next as PortId);
            out.push(next as PortId);
        }
        Ok(out)
    }
}

impl Tables {
    /// Builds the tables for a validated config. `vif_ids` maps each vif name
    /// to the id of its attached interface; `local_tep` is the resolved local
    /// TEP (None if the config has none).
    pub fn build(
        config: &Config,
        vif_names: &[String],
        local_tep: Option<LocalTep>,
        slots: &mut PortSlots,
    ) -> Result<Tables, TablesError> {
        let vif_index: StdHashMap<&str, VifId> = vif_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut vifs: Vec<VifTable> = vif_names
            .iter()
            .map(|n| VifTable {
                name: n.clone(),
                by_vlan: vec![NO_PORT; 4096].into_boxed_slice(),
                untagged: NO_PORT,
            })
            .collect();

        let mut remote_teps: Vec<Ipv4Addr> = Vec::new();
        let tep_id = |ip: Ipv4Addr, teps: &mut Vec<Ipv4Addr>| -> TepId {
            teps.iter().position(|t| *t == ip).unwrap_or_else(|| {
                teps.push(ip);
                teps.len() - 1
            })
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
            switch_index.insert(s.name.as_str(), i);
            vni_to_switch.insert(s.vni, i);
        }

        let names: Vec<&str> = config.ports.iter().map(|p| p.name.as_str()).collect();
        let ids = slots.assign(&names)?;
        let mut ports: Vec<Option<PortEntry>> = Vec::new();
        for (p, id) in config.ports.iter().zip(ids) {
            let vif = *vif_index
                .get(p.vif.as_str())
                .ok_or_else(|| TablesError::VifNotAttached(p.vif.clone()))?;
            let switch = switch_index[p.switch.as_str()];
            match p.vlan {
                Some(v) => vifs[vif].by_vlan[v as usize] = id,
                None => vifs[vif].untagged = id,
            }
            switches[switch].local_ports.push(id);
            switches[switch].macs.insert(p.mac.0, L2Dest::Local(id));
            if ports.len() <= id as usize {
                ports.resize_with(id as usize + 1, || None);
            }
            ports[id as usize] = Some(PortEntry {
                name: p.name.clone(),
                vif,
                vlan: p.vlan,
                switch,
                mac: p.mac.0,
            });
        }

        Ok(Tables {
            vifs,
            ports,
            switches,
            vni_to_switch,
            remote_teps,
            local_tep,
        })
    }

    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortEntry> {
        self.ports.get(id as usize)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn build(slots: &mut PortSlots, json: &str) -> Tables {
        let c = Config::from_json(json).unwrap();
        let names: Vec<String> = c.vifs.iter().map(|v| v.name.clone()).collect();
        Tables::build(&c, &names, None, slots).unwrap()
    }

    #[test]
    fn maps_vlans_macs_and_flood_lists() {
        let t = build(&mut PortSlots::default(), CONFIG);
        let a = t.vifs[0].port(Some(101)).unwrap();
        assert_eq!(t.port(a).unwrap().name, "a");
        assert_eq!(t.vifs[0].port(Some(103)), None);
        assert_eq!(t.vifs[0].port(None), None);
        let node = t.vifs[1].port(None).unwrap();
        assert_eq!(
            t.vifs[1].port(Some(0)),
            Some(node),
            "priority tag = untagged"
        );
        let blue = t.vni_to_switch[&5001];
        let sw = &t.switches[blue];
        assert_eq!(sw.local_ports, vec![a, node]);
        assert_eq!(sw.remote_teps, vec![0]);
        assert_eq!(sw.macs[&[2, 0, 0, 0, 2, 1]], L2Dest::Remote(0));
        assert_eq!(sw.macs[&[2, 0, 0, 0, 1, 1]], L2Dest::Local(a));
        assert!(!sw.macs.contains_key(&[2, 0, 0, 0, 1, 2]), "b is on green");
        assert_eq!(
            t.remote_teps,
            vec!["198.18.0.2".parse::<Ipv4Addr>().unwrap()]
        );
    }

    #[test]
    fn port_slots_are_stable_across_rebuilds() {
        let mut slots = PortSlots::default();
        let t1 = build(&mut slots, CONFIG);
        let node1 = t1.vifs[1].port(None).unwrap();
        let without_a = CONFIG.replace(
            r#"{"name": "a", "vif": "vm1", "vlan": 101, "switch": "blue", "mac": "02:00:00:00:01:01"},"#,
            "",
        );
        let t2 = build(&mut slots, &without_a);
        assert_eq!(t2.vifs[1].port(None).unwrap(), node1);
        assert_eq!(t2.vifs[0].port(Some(101)), None);
    }
}
