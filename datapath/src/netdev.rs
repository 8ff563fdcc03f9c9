//! What xvswitchd reads about host interfaces from the kernel: index, MAC,
//! MTU and number of receive queues.

use std::{ffi::CString, fs, io};

use crate::ids::Mac;

/// Facts about one host interface.
#[derive(Debug, Clone)]
pub struct NetDev {
    pub name: String,
    pub ifindex: u32,
    pub mac: Mac,
    pub mtu: u32,
    /// Queues an AF_XDP socket can bind to: those with a receive and a
    /// transmit side.
    pub rx_queues: u32,
}

impl NetDev {
    /// Looks up `name` in the current network namespace.
    pub fn lookup(name: &str) -> io::Result<NetDev> {
        let cname = CString::new(name).map_err(|_| io::Error::other("NUL in interface name"))?;
        // SAFETY: if_nametoindex reads a NUL-terminated string we own.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface named {name:?}"),
            ));
        }
        let sys = format!("/sys/class/net/{name}");
        let mac: control::MacAddr = fs::read_to_string(format!("{sys}/address"))?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))?;
        let mtu = fs::read_to_string(format!("{sys}/mtu"))?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("mtu: {e}")))?;
        let queues = |kind: &str| {
            fs::read_dir(format!("{sys}/queues"))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with(kind))
                        .count() as u32
                })
                .unwrap_or(1)
                .max(1)
        };
        // An AF_XDP socket binds to a queue that has both sides.
        let rx_queues = queues("rx-").min(queues("tx-"));
        Ok(NetDev {
            name: name.into(),
            ifindex,
            mac: mac.0,
            mtu,
            rx_queues,
        })
    }
}
