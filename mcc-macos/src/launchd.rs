//! The launchd job that runs `mccd` as a system daemon
//! (`/Library/LaunchDaemons/io.staex.mcc.plist`; `launchctl start|stop io.staex.mcc`).

use std::fmt::{self, Write as _};

/// The job's label.
pub const LABEL: &str = "io.staex.mcc";
/// Where the job's plist is installed.
pub const PLIST_PATH: &str = "/Library/LaunchDaemons/io.staex.mcc.plist";
/// Where the daemon's output goes.
pub const LOG_PATH: &str = "/Library/Logs/mcc.log";
/// Where the macOS tarball's install script puts mccd (the plist it ships names it).
pub const PACKAGED_MCCD: &str = "/usr/local/bin/mccd";

/// A launchd job with the keys mcc uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub label: String,
    pub program_arguments: Vec<String>,
    /// Restart the daemon whenever it exits (`launchctl stop` then restarts it).
    pub keep_alive: bool,
    /// Start at boot (and when loaded).
    pub run_at_load: bool,
    pub standard_out_path: Option<String>,
    pub standard_error_path: Option<String>,
}

impl Job {
    /// mcc's job: `mccd CONFIG_DIR`, kept alive, logging to [`LOG_PATH`].
    pub fn mcc(mccd: &str, config_dir: &str, run_at_load: bool) -> Job {
        Job {
            label: LABEL.into(),
            program_arguments: vec![mccd.into(), config_dir.into()],
            keep_alive: true,
            run_at_load,
            standard_out_path: Some(LOG_PATH.into()),
            standard_error_path: Some(LOG_PATH.into()),
        }
    }

    /// The job as XML plist text.
    pub fn plist(&self) -> Result<String, InvalidChar> {
        let mut s = String::from(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
            "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
            "<plist version=\"1.0\">\n<dict>\n",
        ));
        string_key(&mut s, "Label", &self.label)?;
        s.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
        for a in &self.program_arguments {
            let _ = writeln!(s, "\t\t<string>{}</string>", escape(a)?);
        }
        s.push_str("\t</array>\n");
        bool_key(&mut s, "KeepAlive", self.keep_alive);
        bool_key(&mut s, "RunAtLoad", self.run_at_load);
        if let Some(p) = &self.standard_out_path {
            string_key(&mut s, "StandardOutPath", p)?;
        }
        if let Some(p) = &self.standard_error_path {
            string_key(&mut s, "StandardErrorPath", p)?;
        }
        s.push_str("</dict>\n</plist>\n");
        Ok(s)
    }
}

/// A value holds a character XML 1.0 cannot carry (a control character other than tab,
/// newline and carriage return).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidChar(pub char);

impl fmt::Display for InvalidChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "character {:?} cannot appear in a plist", self.0)
    }
}

impl std::error::Error for InvalidChar {}

fn string_key(s: &mut String, key: &str, value: &str) -> Result<(), InvalidChar> {
    let _ = writeln!(
        s,
        "\t<key>{key}</key>\n\t<string>{}</string>",
        escape(value)?
    );
    Ok(())
}

fn bool_key(s: &mut String, key: &str, value: bool) {
    let _ = writeln!(s, "\t<key>{key}</key>\n\t<{value}/>");
}

/// `value` as XML character data: `&`, `<`, `>`, `"` and `'` as entities; characters
/// XML 1.0 forbids are an error.
pub fn escape(value: &str) -> Result<String, InvalidChar> {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => return Err(InvalidChar(c)),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> plist::Dictionary {
        plist::Value::from_reader_xml(text.as_bytes())
            .expect("well-formed plist")
            .into_dictionary()
            .expect("a dict")
    }

    #[test]
    fn mcc_job_parses_with_the_docs_keys() {
        let text = Job::mcc("/usr/local/bin/mccd", "/etc/mcc", false)
            .plist()
            .unwrap();
        let d = parse(&text);
        assert_eq!(d["Label"].as_string(), Some("io.staex.mcc"));
        let args: Vec<_> = d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_string().unwrap())
            .collect();
        assert_eq!(args, ["/usr/local/bin/mccd", "/etc/mcc"]);
        assert_eq!(d["KeepAlive"].as_boolean(), Some(true));
        assert_eq!(d["RunAtLoad"].as_boolean(), Some(false));
        assert_eq!(
            d["StandardOutPath"].as_string(),
            Some("/Library/Logs/mcc.log")
        );
        assert_eq!(
            d["StandardErrorPath"].as_string(),
            Some("/Library/Logs/mcc.log")
        );
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist"));
        assert!(text.ends_with("</dict>\n</plist>\n"));
    }

    /// The plist shipped in the macOS tarball (`scripts/package.sh`) is this module's
    /// output for the tarball's paths, byte for byte.
    #[test]
    fn packaged_plist_is_the_generated_one() {
        let text = Job::mcc(PACKAGED_MCCD, "/etc/mcc", false).plist().unwrap();
        assert_eq!(text, include_str!("../io.staex.mcc.plist"));
    }

    #[test]
    fn run_at_load_as_the_docs_add_it() {
        let text = Job::mcc("/usr/local/bin/mccd", "/etc/mcc", true)
            .plist()
            .unwrap();
        assert!(text.contains("\t<key>RunAtLoad</key>\n\t<true/>\n"));
        assert_eq!(parse(&text)["RunAtLoad"].as_boolean(), Some(true));
    }

    #[test]
    fn values_are_escaped() {
        let odd = "/opt/a&b/<mcc> \"q\" 'x' ü]]>";
        let mut job = Job::mcc(odd, "/etc/mcc dir", false);
        job.label = "io.staex.mcc&test".into();
        job.standard_error_path = None;
        let text = job.plist().unwrap();
        assert!(!text.contains("a&b"));
        let d = parse(&text);
        assert_eq!(d["Label"].as_string(), Some("io.staex.mcc&test"));
        assert_eq!(
            d["ProgramArguments"].as_array().unwrap()[0].as_string(),
            Some(odd)
        );
        assert_eq!(
            d["ProgramArguments"].as_array().unwrap()[1].as_string(),
            Some("/etc/mcc dir")
        );
        assert!(d.get("StandardErrorPath").is_none());
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(escape("a\u{1}b"), Err(InvalidChar('\u{1}')));
        assert_eq!(escape("a\tb\n").unwrap(), "a\tb\n");
        let job = Job::mcc("/usr/local/bin/mccd\0", "/etc/mcc", false);
        assert_eq!(job.plist(), Err(InvalidChar('\0')));
    }
}
