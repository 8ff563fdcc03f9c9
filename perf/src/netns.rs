//! Network namespaces of the benchmark programs: entering one for a call,
//! and a set of namespaces that deletes itself (and kills what runs in it).

use std::{
    fs,
    os::fd::AsRawFd,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

/// Runs `f` with the calling thread inside namespace `ns`, then returns to
/// the namespace it came from.
pub fn in_netns<T>(ns: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let own = fs::File::open("/proc/thread-self/ns/net").map_err(|e| format!("own netns: {e}"))?;
    let target =
        fs::File::open(format!("/var/run/netns/{ns}")).map_err(|e| format!("netns {ns}: {e}"))?;
    // SAFETY: setns on this thread with a namespace fd we hold open.
    if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "entering netns {ns}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let r = f();
    // SAFETY: as above, back to the namespace we came from.
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "leaving netns {ns}: {}",
            std::io::Error::last_os_error()
        ));
    }
    r
}

/// Runs `cmd`; an error names the command and carries its stderr.
pub fn check(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Namespaces created by this process; on drop every process inside them is
/// killed and the namespaces are deleted (also on error or panic).
pub struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    /// Creates one namespace per name, each with `lo` up.
    pub fn create(names: &[String]) -> Result<Namespaces, String> {
        let mut me = Namespaces { names: Vec::new() };
        for n in names {
            check(Command::new("ip").args(["netns", "add", n]))?;
            me.names.push(n.clone());
            check(Command::new("ip").args(["-n", n, "link", "set", "lo", "up"]))?;
        }
        Ok(me)
    }

    /// `ip -n NS ARGS...`, the arguments split at spaces.
    pub fn ip(&self, ns: &str, args: &str) -> Result<String, String> {
        check(
            Command::new("ip")
                .args(["-n", ns])
                .args(args.split_whitespace()),
        )
    }

    /// A command to run `program` inside `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Turns off every offload AF_XDP copy mode would otherwise see
    /// (checksum, segmentation, VLAN acceleration) on `ns`'s `dev`.
    pub fn offloads_off(ns: &str, dev: &str) {
        let mut c = Namespaces::exec(ns, "ethtool");
        c.args(["-K", dev]);
        for f in ["rx", "tx", "tso", "gso", "gro", "lro", "txvlan", "rxvlan"] {
            c.args([f, "off"]);
        }
        // Not every feature exists on every kernel: best effort.
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// Kills every process in `ns` (SIGKILL).
pub fn kill_all_in(ns: &str) {
    let Ok(out) = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: killing a process in a namespace this program made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            kill_all_in(ns);
        }
        if !self.names.is_empty() {
            thread::sleep(Duration::from_millis(100));
        }
        for ns in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
