//! Manual pages generated from a program's clap definition, so `--help`
//! and the man pages never disagree: `xvsctl man DIR` and `xvswitchd
//! --man-pages DIR` (hidden) call [`write`] with their own `clap::Command`,
//! and the Debian package is built from their output (`scripts/package.sh`).

use std::io;
use std::path::{Path, PathBuf};

/// Both programs are system administration commands.
pub const SECTION: &str = "8";

/// Writes the manual page of `cmd` and one per (non-hidden) subcommand,
/// named like git's (`xvsctl-port-add.8`), into `dir`; returns their paths.
pub fn write(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(
        cmd: clap::Command,
        source: &str,
        dir: &Path,
        out: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), source, dir, out)?;
        }
        let page = clap_mangen::Man::new(cmd)
            .section(SECTION)
            .source(source)
            .manual("xvswitch");
        out.push(page.generate_to(dir)?);
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Built once at the top, so every subcommand knows its full name
    // (`xvsctl port add`) and inherits the global options.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names the program and its version (a
    // subcommand has no version of its own).
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    walk(cmd, source.trim_end(), dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .version("1.2.3")
            .about("A demo tool")
            .arg(clap::Arg::new("socket").long("socket").global(true))
            .subcommand(
                clap::Command::new("port")
                    .about("Ports")
                    .subcommand(clap::Command::new("add").about("Add a port")),
            )
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn one_page_per_visible_command_with_full_names() {
        let dir = std::env::temp_dir().join(format!("xvs-manpages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pages = write(demo(), &dir).unwrap();
        let names: Vec<_> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo-port-add.8", "demo-port.8", "demo.8"]);
        let add = std::fs::read_to_string(dir.join("demo-port-add.8")).unwrap();
        assert!(
            add.contains(".TH demo-port-add 8  \"demo 1.2.3\" xvswitch\n"),
            "title, section and the program's version: {add}"
        );
        assert!(
            add.contains("\\fBdemo port add\\fR"),
            "the synopsis names the whole command"
        );
        assert!(add.contains("socket"), "global options reach subcommands");
        let top = std::fs::read_to_string(dir.join("demo.8")).unwrap();
        assert!(top.contains("A demo tool") && top.contains("1.2.3"));
        assert!(!top.contains("secret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
