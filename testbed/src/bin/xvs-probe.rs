//! `xvs-probe`: traffic helpers the testbed runs inside pod and node-VM
//! namespaces: a checksummed TCP transfer (sender and receiver) and a raw
//! frame sender. Every loop is bounded in count and time.

use std::{
    ffi::CString,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Testbed traffic helpers (checksummed TCP transfer, raw frames)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Accept one TCP connection, read to EOF, print `bytes=N fnv=HEX`.
    TcpRecv {
        #[arg(long)]
        port: u16,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Connect, send N pseudo-random bytes from SEED, print `bytes=N fnv=HEX`.
    TcpSend {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        bytes: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Send COUNT numbered UDP datagrams, one every INTERVAL_US; print `sent=N`.
    UdpSend {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 1000)]
        interval_us: u64,
    },
    /// Count distinct numbered datagrams until COUNT arrived, TIMEOUT passed,
    /// or 3 s passed without one; print `received=N`.
    UdpRecv {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Send COUNT raw Ethernet frames out of IFACE (optionally 802.1Q-tagged).
    SendFrames {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        vlan: Option<u16>,
        #[arg(long)]
        src_mac: control::MacAddr,
        #[arg(long, default_value = "ff:ff:ff:ff:ff:ff")]
        dst_mac: control::MacAddr,
        /// Frame length in bytes (without the tag).
        #[arg(long, default_value_t = 64)]
        len: usize,
    },
}

/// FNV-1a, 64-bit: the transfer checksum both ends compute.
struct Fnv(u64);
impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn tcp_recv(port: u16, timeout: Duration) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    println!("listening");
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("no connection before the timeout".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (mut total, mut fnv, mut buf) = (0u64, Fnv::new(), vec![0u8; 65536]);
    loop {
        if Instant::now() > deadline {
            return Err(format!("timeout after {total} bytes"));
        }
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("read after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        fnv.update(&buf[..n]);
        total += n as u64;
    }
    println!("bytes={total} fnv={:016x}", fnv.0);
    Ok(())
}

fn tcp_send(to: SocketAddr, bytes: u64, seed: u64, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (mut sent, mut fnv, mut state) = (0u64, Fnv::new(), seed | 1);
    let mut buf = vec![0u8; 65536];
    while sent < bytes {
        if Instant::now() > deadline {
            return Err(format!("timeout after {sent} bytes"));
        }
        let n = ((bytes - sent) as usize).min(buf.len());
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64: deterministic, incompressible test data.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        stream
            .write_all(&buf[..n])
            .map_err(|e| format!("write after {sent} bytes: {e}"))?;
        fnv.update(&buf[..n]);
        sent += n as u64;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    // Wait for the receiver to close, so every byte has been read.
    let mut end = [0u8; 1];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.read(&mut end);
    println!("bytes={sent} fnv={:016x}", fnv.0);
    Ok(())
}

fn udp_send(to: SocketAddr, count: u32, interval: Duration) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut sent = 0u32;
    for seq in 0..count {
        let due = start + interval * seq;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if sock.send_to(&seq.to_be_bytes(), to).is_ok() {
            sent += 1;
        }
    }
    println!("sent={sent}");
    Ok(())
}

fn udp_recv(port: u16, count: u32, timeout: Duration) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    println!("listening");
    let deadline = Instant::now() + timeout;
    let mut seen = vec![false; count as usize];
    let (mut received, mut last) = (0u32, None::<Instant>);
    let mut buf = [0u8; 64];
    while received < count && Instant::now() < deadline {
        if last.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let Ok(n) = sock.recv(&mut buf) else { continue };
        if n < 4 {
            continue;
        }
        last = Some(Instant::now());
        let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if let Some(s) = seen.get_mut(seq) {
            if !*s {
                *s = true;
                received += 1;
            }
        }
    }
    println!("received={received}");
    Ok(())
}

fn send_frames(
    iface: &str,
    count: u32,
    vlan: Option<u16>,
    src: control::MacAddr,
    dst: control::MacAddr,
    len: usize,
) -> Result<(), String> {
    let name = CString::new(iface).map_err(|_| "bad interface name")?;
    // SAFETY: if_nametoindex reads a NUL-terminated string we own.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("no interface {iface}"));
    }
    let mut frame = Vec::with_capacity(len + 4);
    frame.extend_from_slice(&dst.0);
    frame.extend_from_slice(&src.0);
    if let Some(v) = vlan {
        frame.extend_from_slice(&0x8100u16.to_be_bytes());
        frame.extend_from_slice(&v.to_be_bytes());
    }
    // A local experimental ethertype: nobody answers it.
    frame.extend_from_slice(&0x88b5u16.to_be_bytes());
    frame.resize(len.max(60) + if vlan.is_some() { 4 } else { 0 }, 0x5a);
    // SAFETY: a raw packet socket we own; sendto reads `frame` and the
    // sockaddr_ll we built; the fd is closed at the end.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&dst.0);
        let mut sent = 0;
        for _ in 0..count {
            let r = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            if r == frame.len() as isize {
                sent += 1;
            }
        }
        libc::close(fd);
        println!("sent={sent}");
        if sent != count {
            return Err(format!("only {sent} of {count} frames sent"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let r = match Args::parse().cmd {
        Cmd::TcpRecv { port, timeout } => tcp_recv(port, Duration::from_secs(timeout)),
        Cmd::TcpSend {
            to,
            bytes,
            seed,
            timeout,
        } => tcp_send(to, bytes, seed, Duration::from_secs(timeout)),
        Cmd::UdpSend {
            to,
            count,
            interval_us,
        } => udp_send(to, count, Duration::from_micros(interval_us)),
        Cmd::UdpRecv {
            port,
            count,
            timeout,
        } => udp_recv(port, count, Duration::from_secs(timeout)),
        Cmd::SendFrames {
            iface,
            count,
            vlan,
            src_mac,
            dst_mac,
            len,
        } => send_frames(&iface, count, vlan, src_mac, dst_mac, len),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvs-probe: {e}");
            ExitCode::FAILURE
        }
    }
}
