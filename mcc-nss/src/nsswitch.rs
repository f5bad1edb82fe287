//! Adding the module to nsswitch.conf and removing it, as text: the docs' line is
//! `hosts:      files mcc [SUCCESS=return] dns`. [`add`] puts `mcc [SUCCESS=return]` on
//! the `hosts:` line before the first name server source (`resolve` of systemd-resolved or
//! `dns`), or at its end when there is none; [`remove`] takes it (and its action items)
//! off again. Both keep every other line, comment and spacing as it was, and both are
//! idempotent: a line that already names `mcc` is left alone by [`add`], whatever action
//! its administrator gave it.

/// The service name in nsswitch.conf (glibc then loads `libnss_mcc.so.2`).
pub const SERVICE: &str = "mcc";
/// What [`add`] inserts.
pub const ENTRY: &str = "mcc [SUCCESS=return]";
/// Sources that ask name servers: the module goes before the first, so it answers first.
const NAME_SERVERS: [&str; 2] = ["resolve", "dns"];

/// One `hosts:` line, split into its key, its items and a trailing comment.
struct HostsLine<'a> {
    /// `hosts:` with the blanks after it, as written.
    head: &'a str,
    /// Sources and `[...]` action groups, in order.
    items: Vec<&'a str>,
    /// A `#` comment after the items, with the blanks before it.
    tail: &'a str,
}

/// Splits `line` if it is the `hosts:` line (leading blanks allowed).
fn parse(line: &str) -> Option<HostsLine<'_>> {
    let start = line.len() - line.trim_start().len();
    let key_end = start + line[start..].find(':')?;
    if &line[start..key_end] != "hosts" {
        return None;
    }
    let after = &line[key_end + 1..];
    let (body, comment) = after.split_at(after.find('#').unwrap_or(after.len()));
    let lead = body.len() - body.trim_start().len();
    let text = body.trim();
    let mut items = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // An action group runs to its `]`, blanks inside included.
        let end = if rest.starts_with('[') {
            rest.find(']').map_or(rest.len(), |i| i + 1)
        } else {
            rest.find(|c: char| c.is_whitespace() || c == '[')
                .unwrap_or(rest.len())
        };
        items.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    Some(HostsLine {
        head: &line[..key_end + 1 + lead],
        items,
        // The blanks between the items and the comment stay with the comment.
        tail: if comment.is_empty() {
            ""
        } else {
            &after[(lead + text.len()).min(body.len())..]
        },
    })
}

impl HostsLine<'_> {
    fn render(&self, items: &[&str]) -> String {
        let mut out = String::from(self.head);
        out.push_str(&items.join(" "));
        if !items.is_empty() && !self.tail.is_empty() && !self.tail.starts_with(char::is_whitespace)
        {
            out.push(' ');
        }
        out.push_str(self.tail);
        out
    }

    fn has_service(&self) -> bool {
        self.items.contains(&SERVICE)
    }
}

/// Applies `f` to the `hosts:` lines of `text`, keeping every other byte.
fn edit(text: &str, mut f: impl FnMut(&HostsLine) -> Option<String>) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + ENTRY.len() + 1);
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        match parse(body) {
            Some(h) => {
                found = true;
                out.push_str(&f(&h).unwrap_or_else(|| body.to_string()));
            }
            None => out.push_str(body),
        }
        out.push_str(nl);
    }
    (out, found)
}

/// `text` with the module on its `hosts:` line (module docs); a file without a `hosts:`
/// line gets one, `hosts: files mcc [SUCCESS=return] dns`.
pub fn add(text: &str) -> String {
    let (out, found) = edit(text, |h| {
        if h.has_service() {
            return None;
        }
        let at = h
            .items
            .iter()
            .position(|i| NAME_SERVERS.contains(i))
            .unwrap_or(h.items.len());
        let mut items = h.items.clone();
        items.insert(at, ENTRY);
        Some(h.render(&items))
    });
    if found {
        return out;
    }
    let mut out = out;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("hosts:          files ");
    out.push_str(ENTRY);
    out.push_str(" dns\n");
    out
}

/// `text` without the module: `mcc` and the action groups after it leave the `hosts:` line.
pub fn remove(text: &str) -> String {
    edit(text, |h| {
        if !h.has_service() {
            return None;
        }
        let mut items = Vec::new();
        let mut dropping = false;
        for i in &h.items {
            if *i == SERVICE {
                dropping = true;
            } else if !(dropping && i.starts_with('[')) {
                dropping = false;
                items.push(*i);
            }
        }
        Some(h.render(&items))
    })
    .0
}

/// Whether the `hosts:` line of `text` names the module.
pub fn is_enabled(text: &str) -> bool {
    text.lines().filter_map(parse).any(|h| h.has_service())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "# /etc/nsswitch.conf\n\
        #\n\
        passwd:         files systemd\n\
        hosts:          files mymachines dns\n\
        networks:       files\n";

    #[test]
    fn add_goes_before_dns_and_is_idempotent() {
        let once = add(DEBIAN);
        assert_eq!(
            once,
            DEBIAN.replace(
                "hosts:          files mymachines dns",
                "hosts:          files mymachines mcc [SUCCESS=return] dns"
            )
        );
        assert_eq!(add(&once), once);
        assert!(is_enabled(&once) && !is_enabled(DEBIAN));
        assert_eq!(remove(&once), DEBIAN);
        assert_eq!(remove(DEBIAN), DEBIAN);
    }

    #[test]
    fn the_docs_line_and_other_shapes() {
        for (before, after) in [
            ("hosts: files dns", "hosts: files mcc [SUCCESS=return] dns"),
            // systemd-resolved answers NOTFOUND with return: the module goes before it.
            (
                "hosts: mymachines resolve [!UNAVAIL=return] files myhostname dns",
                "hosts: mymachines mcc [SUCCESS=return] resolve [!UNAVAIL=return] files myhostname dns",
            ),
            (
                "hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname",
                "hosts: files mdns4_minimal [NOTFOUND=return] mcc [SUCCESS=return] dns myhostname",
            ),
            ("hosts: files", "hosts: files mcc [SUCCESS=return]"),
            (
                "  hosts:\tfiles dns   # comment, dns",
                "  hosts:\tfiles mcc [SUCCESS=return] dns   # comment, dns",
            ),
            (
                "hosts: files [ NOTFOUND = return ] dns",
                "hosts: files [ NOTFOUND = return ] mcc [SUCCESS=return] dns",
            ),
        ] {
            let added = add(before);
            assert_eq!(added, after, "{before}");
            assert_eq!(add(&added), added, "{before}");
            assert_eq!(remove(&added), before, "{before}");
        }
    }

    #[test]
    fn an_administrators_own_mcc_entry_is_kept_by_add_and_taken_by_remove() {
        let own = "hosts: files mcc [NOTFOUND=return] [UNAVAIL=continue] dns\n";
        assert_eq!(add(own), own);
        assert_eq!(remove(own), "hosts: files dns\n");
        // Another service whose name starts with mcc is not ours.
        let other = "hosts: files mccx dns\n";
        assert_eq!(add(other), "hosts: files mccx mcc [SUCCESS=return] dns\n");
        assert_eq!(remove(other), other);
    }

    #[test]
    fn a_file_without_a_hosts_line_gets_one() {
        assert_eq!(
            add("passwd: files"),
            "passwd: files\nhosts:          files mcc [SUCCESS=return] dns\n"
        );
        assert_eq!(add(""), "hosts:          files mcc [SUCCESS=return] dns\n");
        // `hostsx:` and a commented-out line are not the hosts line.
        let text = "# hosts: files dns\nhostsx: files dns\n";
        assert!(
            add(text)
                .ends_with("hostsx: files dns\nhosts:          files mcc [SUCCESS=return] dns\n")
        );
    }
}
