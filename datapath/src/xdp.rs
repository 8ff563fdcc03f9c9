//! The XDP programs xvswitchd attaches to its interfaces, and their loader.
//!
//! One object file (`bpf/xvs_xdp.bpf.c`, compiled by build.rs) holds two
//! programs: `xvs_vif` sends every frame of a vif to its queue's AF_XDP
//! socket; `xvs_uplink` sends only Geneve to the local TEP address and passes
//! everything else to the kernel. Each interface gets its own loaded instance
//! (with its own xskmap). Programs are attached in native (driver) mode over
//! netlink, replacing whatever program a previous run left behind, and are
//! detached when the [`XdpProgram`] is dropped.

use std::{net::Ipv4Addr, os::fd::AsFd};

use libbpf_rs::{MapCore, MapFlags, ObjectBuilder, Xdp, XdpFlags};
use thiserror::Error;

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xvs_xdp.bpf.o"));

/// Which steering program an interface runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything goes to the socket.
    Vif,
    /// Only Geneve to this local TEP address goes to the socket.
    Uplink { tep_ip: Ipv4Addr },
}

#[derive(Debug, Error)]
pub enum XdpError {
    #[error("loading the XDP object for {interface}: {source}")]
    Load {
        interface: String,
        source: libbpf_rs::Error,
    },
    #[error("attaching XDP (native mode) to {interface}: {source}")]
    Attach {
        interface: String,
        source: libbpf_rs::Error,
    },
    #[error("updating map {map} on {interface}: {source}")]
    Map {
        interface: String,
        map: &'static str,
        source: libbpf_rs::Error,
    },
}

/// A loaded and attached steering program on one interface.
pub struct XdpProgram {
    interface: String,
    ifindex: i32,
    object: libbpf_rs::Object,
    program: &'static str,
}

impl XdpProgram {
    /// Loads the program for `role` and attaches it to `interface`
    /// (`ifindex`), replacing any XDP program already there.
    pub fn attach(interface: &str, ifindex: u32, role: Role) -> Result<XdpProgram, XdpError> {
        let load_err = |source| XdpError::Load {
            interface: interface.into(),
            source,
        };
        let object = ObjectBuilder::default()
            .open_memory(OBJECT)
            .and_then(|o| o.load())
            .map_err(load_err)?;
        let program = match role {
            Role::Vif => "xvs_vif",
            Role::Uplink { .. } => "xvs_uplink",
        };
        let me = XdpProgram {
            interface: interface.into(),
            ifindex: ifindex as i32,
            object,
            program,
        };
        if let Role::Uplink { tep_ip } = role {
            me.set_tep_ip(tep_ip)?;
        }
        let prog = me.prog();
        let xdp = Xdp::new(prog.as_fd());
        // A stale generic-mode program would block a native attach.
        let _ = xdp.detach(me.ifindex, XdpFlags::SKB_MODE);
        xdp.attach(me.ifindex, XdpFlags::DRV_MODE)
            .map_err(|source| XdpError::Attach {
                interface: interface.into(),
                source,
            })?;
        Ok(me)
    }

    fn prog(&self) -> libbpf_rs::Program<'_> {
        self.object
            .progs()
            .find(|p| p.name() == self.program)
            .expect("program is in the embedded object")
    }

    fn map(&self, name: &str) -> libbpf_rs::Map<'_> {
        self.object
            .maps()
            .find(|m| m.name() == name)
            .expect("map is in the embedded object")
    }

    /// Writes the local TEP address the uplink program matches.
    pub fn set_tep_ip(&self, tep_ip: Ipv4Addr) -> Result<(), XdpError> {
        let value = u32::from_ne_bytes(tep_ip.octets()).to_ne_bytes();
        self.map("uplink_cfg")
            .update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|source| XdpError::Map {
                interface: self.interface.clone(),
                map: "uplink_cfg",
                source,
            })
    }

    /// Steers `queue`'s frames to the AF_XDP socket `xsk_fd`.
    pub fn bind_socket(&self, queue: u32, xsk_fd: i32) -> Result<(), XdpError> {
        self.map("xsks")
            .update(&queue.to_ne_bytes(), &xsk_fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| XdpError::Map {
                interface: self.interface.clone(),
                map: "xsks",
                source,
            })
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        let prog = self.prog();
        let _ = Xdp::new(prog.as_fd()).detach(self.ifindex, XdpFlags::DRV_MODE);
    }
}
