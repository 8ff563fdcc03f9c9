//! The rules of the model: [`validate`] checks a [`Config`] and reports the
//! first broken rule as a [`ValidationError`] naming the object and field.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::{
    Config, LocalTep, LogicalPort, LogicalSwitch, MacAddr, ValidationError, Vif, MAX_NAME_LEN,
    MAX_PORTS, MAX_VIFS, MAX_VNI, MTU_RANGE, VLAN_RANGE,
};

/// Longest Linux interface name, in bytes (IFNAMSIZ - 1).
const MAX_IFNAME_LEN: usize = 15;

/// Checks `config` against every rule; see [`Config::validate`].
pub(super) fn validate(config: &Config) -> Result<(), ValidationError> {
    if let Some(tep) = &config.local_tep {
        check_local_tep(tep)?;
    }
    let switches = check_switches(config)?;
    let vifs = check_vifs(config)?;
    check_ports(config, &switches, &vifs)?;
    super::validate_firewall::validate(config)
}

fn switch_object(name: &str) -> String {
    format!("switch {name:?}")
}

fn vif_object(name: &str) -> String {
    format!("vif {name:?}")
}

fn port_object(name: &str) -> String {
    format!("port {name:?}")
}

/// Why `name` cannot name a switch, vif or port, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "is {} bytes long (at most {MAX_NAME_LEN})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "{name:?} contains {c:?} (only letters, digits, '.', '_' and '-' are allowed)"
        ));
    }
    None
}

/// Checks the name of the `index`th object of a kind: valid and not yet in
/// `seen`, which it is then added to. `list` is the kind's field in
/// [`Config`], `kind` its singular.
pub(super) fn check_name<'a>(
    name: &'a str,
    index: usize,
    list: &str,
    kind: &str,
    seen: &mut BTreeMap<&'a str, usize>,
) -> Result<(), ValidationError> {
    if let Some(problem) = name_problem(name) {
        return Err(ValidationError::new(
            format!("{list}[{index}]"),
            "name",
            problem,
        ));
    }
    if let Some(first) = seen.insert(name, index) {
        return Err(ValidationError::new(
            format!("{kind} {name:?}"),
            "name",
            format!("is already the name of another {kind} ({list}[{first}])"),
        ));
    }
    Ok(())
}

/// Why `name` is not a valid Linux interface name, if it is not. Follows the
/// kernel's `dev_valid_name`.
fn ifname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Some(format!(
            "{name:?} is {} bytes long (Linux interface names have at most {MAX_IFNAME_LEN})",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} is not a valid interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Some(format!(
            "{name:?} contains {c:?}, which Linux interface names cannot"
        ));
    }
    None
}

/// Why `ip` cannot be a tunnel endpoint, if it cannot.
fn tep_ip_problem(ip: Ipv4Addr) -> Option<String> {
    let kind = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_loopback() {
        "loopback"
    } else {
        return None;
    };
    Some(format!("{ip} is {kind}; a TEP needs a unicast address"))
}

/// Why `mac` cannot be the address of a port or remote MAC, if it cannot.
fn mac_problem(mac: MacAddr) -> Option<String> {
    if mac.is_zero() {
        Some(format!("{mac} is the all-zero address"))
    } else if mac.is_broadcast() {
        Some(format!("{mac} is the broadcast address"))
    } else if mac.is_multicast() {
        Some(format!("{mac} is a multicast address"))
    } else {
        None
    }
}

/// Why `ip` cannot be bound to a port, if it cannot.
fn port_ip_problem(ip: IpAddr) -> Option<String> {
    let kind = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        "the broadcast address"
    } else if ip.is_loopback() {
        "loopback"
    } else {
        return None;
    };
    Some(format!("{ip} is {kind}; a port needs a unicast address"))
}

fn check_local_tep(tep: &LocalTep) -> Result<(), ValidationError> {
    let err = |field: &str, reason: String| ValidationError::new("local_tep", field, reason);
    if let Some(problem) = ifname_problem(&tep.uplink) {
        return Err(err("uplink", problem));
    }
    if let Some(problem) = tep_ip_problem(tep.ip) {
        return Err(err("ip", problem));
    }
    if let Some(mtu) = tep.mtu {
        if !MTU_RANGE.contains(&mtu) {
            return Err(err(
                "mtu",
                format!(
                    "{mtu} is out of range ({}..={})",
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                ),
            ));
        }
    }
    Ok(())
}

/// What port validation needs to know of a switch.
struct SwitchInfo<'a> {
    /// The switch's remote MACs, with their index in `remote_macs`.
    remote_macs: BTreeMap<MacAddr, usize>,
    switch: &'a LogicalSwitch,
}

/// Checks all switches; returns them by name.
fn check_switches(config: &Config) -> Result<BTreeMap<&str, SwitchInfo<'_>>, ValidationError> {
    let mut names = BTreeMap::new();
    let mut vnis: BTreeMap<u32, &str> = BTreeMap::new();
    let mut switches = BTreeMap::new();
    for (index, switch) in config.switches.iter().enumerate() {
        check_name(&switch.name, index, "switches", "switch", &mut names)?;
        let err = |field: String, reason: String| {
            ValidationError::new(switch_object(&switch.name), field, reason)
        };
        if switch.vni > MAX_VNI {
            return Err(err(
                "vni".into(),
                format!("{} is out of range (a VNI is 0..={MAX_VNI})", switch.vni),
            ));
        }
        if let Some(other) = vnis.insert(switch.vni, &switch.name) {
            return Err(err(
                "vni".into(),
                format!("{} is already the VNI of switch {other:?}", switch.vni),
            ));
        }
        let remote_macs = check_remote(config, switch, err)?;
        switches.insert(
            switch.name.as_str(),
            SwitchInfo {
                remote_macs,
                switch,
            },
        );
    }
    Ok(switches)
}

/// Checks a switch's remote TEPs and MACs; returns the remote MACs with
/// their index.
fn check_remote(
    config: &Config,
    switch: &LogicalSwitch,
    err: impl Fn(String, String) -> ValidationError,
) -> Result<BTreeMap<MacAddr, usize>, ValidationError> {
    if switch.remote_teps.is_empty() && switch.remote_macs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let Some(local) = &config.local_tep else {
        let field = if switch.remote_teps.is_empty() {
            "remote_macs"
        } else {
            "remote_teps"
        };
        return Err(err(
            field.into(),
            "reaching remote TEPs needs a local TEP, but local_tep is not set".into(),
        ));
    };
    let mut teps = BTreeMap::new();
    for (i, &tep) in switch.remote_teps.iter().enumerate() {
        let field = || format!("remote_teps[{i}]");
        if let Some(problem) = tep_ip_problem(tep) {
            return Err(err(field(), problem));
        }
        if tep == local.ip {
            return Err(err(
                field(),
                format!("{tep} is the local TEP's own address"),
            ));
        }
        if let Some(first) = teps.insert(tep, i) {
            return Err(err(
                field(),
                format!("{tep} is already listed as remote_teps[{first}]"),
            ));
        }
    }
    let mut macs = BTreeMap::new();
    for (i, remote) in switch.remote_macs.iter().enumerate() {
        if let Some(problem) = mac_problem(remote.mac) {
            return Err(err(format!("remote_macs[{i}].mac"), problem));
        }
        if let Some(first) = macs.insert(remote.mac, i) {
            return Err(err(
                format!("remote_macs[{i}].mac"),
                format!("{} is already listed as remote_macs[{first}]", remote.mac),
            ));
        }
        if !teps.contains_key(&remote.tep) {
            return Err(err(
                format!("remote_macs[{i}].tep"),
                format!("{} is not one of this switch's remote_teps", remote.tep),
            ));
        }
    }
    Ok(macs)
}

/// Checks that a list of the configuration holds at most `limit` objects:
/// `config: ports: too many logical ports (4111): at most 4096 are
/// supported`.
pub(super) fn check_capacity(
    list: &str,
    what: &str,
    len: usize,
    limit: usize,
) -> Result<(), ValidationError> {
    if len > limit {
        return Err(ValidationError::new(
            "config",
            list,
            format!("too many {what} ({len}): at most {limit} are supported"),
        ));
    }
    Ok(())
}

/// Checks all vifs; returns them by name.
fn check_vifs(config: &Config) -> Result<BTreeMap<&str, &Vif>, ValidationError> {
    check_capacity("vifs", "vifs", config.vifs.len(), MAX_VIFS)?;
    let mut names = BTreeMap::new();
    let mut interfaces: BTreeMap<&str, &str> = BTreeMap::new();
    let uplink = config.local_tep.as_ref().map(|tep| tep.uplink.as_str());
    let mut vifs = BTreeMap::new();
    for (index, vif) in config.vifs.iter().enumerate() {
        check_name(&vif.name, index, "vifs", "vif", &mut names)?;
        let err = |reason: String| ValidationError::new(vif_object(&vif.name), "interface", reason);
        if let Some(problem) = ifname_problem(&vif.interface) {
            return Err(err(problem));
        }
        if uplink == Some(vif.interface.as_str()) {
            return Err(err(format!(
                "{:?} is the uplink of local_tep",
                vif.interface
            )));
        }
        if let Some(other) = interfaces.insert(&vif.interface, &vif.name) {
            return Err(err(format!(
                "{:?} is already the interface of vif {other:?}",
                vif.interface
            )));
        }
        vifs.insert(vif.name.as_str(), vif);
    }
    Ok(vifs)
}

/// Checks all ports against the switches and vifs already checked.
fn check_ports(
    config: &Config,
    switches: &BTreeMap<&str, SwitchInfo<'_>>,
    vifs: &BTreeMap<&str, &Vif>,
) -> Result<(), ValidationError> {
    check_capacity("ports", "logical ports", config.ports.len(), MAX_PORTS)?;
    let mut names = BTreeMap::new();
    // (vif, vlan) -> port name
    let mut attachments: BTreeMap<(&str, Option<u16>), &str> = BTreeMap::new();
    // (switch, mac) -> port name
    let mut macs: BTreeMap<(&str, MacAddr), &str> = BTreeMap::new();
    // (switch, ip) -> port name
    let mut ips: BTreeMap<(&str, IpAddr), &str> = BTreeMap::new();
    for (index, port) in config.ports.iter().enumerate() {
        check_name(&port.name, index, "ports", "port", &mut names)?;
        let err = |field: String, reason: String| {
            ValidationError::new(port_object(&port.name), field, reason)
        };
        if !vifs.contains_key(port.vif.as_str()) {
            return Err(err("vif".into(), format!("there is no vif {:?}", port.vif)));
        }
        let Some(switch) = switches.get(port.switch.as_str()) else {
            return Err(err(
                "switch".into(),
                format!("there is no switch {:?}", port.switch),
            ));
        };
        check_vlan(port).map_err(|reason| err("vlan".into(), reason))?;
        if let Some(other) = attachments.insert((&port.vif, port.vlan), &port.name) {
            let traffic = match port.vlan {
                Some(vlan) => format!("VLAN {vlan} of vif {:?}", port.vif),
                None => format!("untagged traffic of vif {:?}", port.vif),
            };
            return Err(err(
                "vlan".into(),
                format!("{traffic} already belongs to port {other:?}"),
            ));
        }
        if let Some(problem) = mac_problem(port.mac) {
            return Err(err("mac".into(), problem));
        }
        if let Some(i) = switch.remote_macs.get(&port.mac) {
            return Err(err(
                "mac".into(),
                format!(
                    "{} is already a remote MAC of switch {:?} (remote_macs[{i}])",
                    port.mac, switch.switch.name
                ),
            ));
        }
        if let Some(other) = macs.insert((&port.switch, port.mac), &port.name) {
            return Err(err(
                "mac".into(),
                format!(
                    "{} is already the MAC of port {other:?} on switch {:?}",
                    port.mac, port.switch
                ),
            ));
        }
        check_port_ips(port, &mut ips).map_err(|(field, reason)| err(field, reason))?;
        super::validate_firewall::check_port(port).map_err(|(field, reason)| err(field, reason))?;
    }
    Ok(())
}

/// Checks a port's VLAN id; returns the reason it is wrong.
fn check_vlan(port: &LogicalPort) -> Result<(), String> {
    let valid = format!(
        "valid ids are {}..={}",
        VLAN_RANGE.start(),
        VLAN_RANGE.end()
    );
    match port.vlan {
        None => Ok(()),
        Some(vlan) if VLAN_RANGE.contains(&vlan) => Ok(()),
        Some(0) => Err(format!(
            "0 marks a priority-tagged frame, not a VLAN ({valid}; leave vlan out for untagged)"
        )),
        Some(4095) => Err(format!("4095 is reserved by 802.1Q ({valid})")),
        Some(vlan) => Err(format!("{vlan} is out of range ({valid})")),
    }
}

/// Checks a port's IPs, against each other and against `taken`, the IPs of
/// earlier ports by switch; adds them to `taken`. Returns the field and
/// reason of a problem.
fn check_port_ips<'a>(
    port: &'a LogicalPort,
    taken: &mut BTreeMap<(&'a str, IpAddr), &'a str>,
) -> Result<(), (String, String)> {
    for (i, &ip) in port.ips.iter().enumerate() {
        let field = || format!("ips[{i}]");
        if let Some(problem) = port_ip_problem(ip) {
            return Err((field(), problem));
        }
        if let Some(first) = port.ips[..i].iter().position(|&other| other == ip) {
            return Err((field(), format!("{ip} is already listed as ips[{first}]")));
        }
        if let Some(other) = taken.insert((&port.switch, ip), &port.name) {
            return Err((
                field(),
                format!(
                    "{ip} is already bound to port {other:?} on switch {:?}",
                    port.switch
                ),
            ));
        }
    }
    Ok(())
}
