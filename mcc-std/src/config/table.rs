//! A configuration file as one table of keys. Each [`Key`] holds its name, its default as it
//! would be written in the file, its doc line and the function that parses it into the
//! configuration; the defaults, the parser and the printed file all come from that table, so
//! a key is written once.
//!
//! Plain data and small functions rather than a macro that expands into struct, parser and
//! printer: the public structs keep their hand-written fields and docs, and an entry reads
//! like the documentation (`key = default`, then what it means).
//!
//! Public so that the other daemons' files (mcc-web's `mcc-web.conf`) take the same format
//! and give the same `file:line: key: reason` errors as `mcc.conf`.

use super::ConfigError;
use super::lexer::for_each_entry;
use std::fmt::Write as _;
use std::path::Path;

/// Parses a value into the configuration `T`; the path is the directory relative paths are
/// resolved against. The error is the reason, without file, line or key.
pub type Setter<T> = fn(&mut T, &str, &Path) -> Result<(), String>;

/// One key of a configuration file.
pub struct Key<T: 'static> {
    pub name: &'static str,
    /// The value when the file does not set it, written as in the file. Empty: unset, and
    /// printed commented out. Ignored for [`Value::Required`].
    pub default: &'static str,
    /// What the key means, printed as a comment above it; `\n` starts another comment line.
    pub doc: &'static str,
    pub value: Value<T>,
}

pub enum Value<T: 'static> {
    /// Implemented, with a default.
    Set(Setter<T>),
    /// Implemented, and the file must set it.
    Required(Setter<T>),
    /// A key of the documentation this implementation accepts but does not implement. Setting
    /// it is listed for a warning that names the file and line, unless the value is empty or
    /// one of these, which ask for nothing ("false", "none").
    Unsupported { harmless: &'static [&'static str] },
}

/// Stores a parsed value: `|c, v, _| set(&mut c.field, parser(v))`.
pub fn set<V>(slot: &mut V, parsed: Result<V, String>) -> Result<(), String> {
    *slot = parsed?;
    Ok(())
}

/// Gives every key with a default its default.
///
/// # Panics
/// If a default does not parse: a bug in the table, which a test rules out.
pub fn apply_defaults<T>(keys: &[Key<T>], target: &mut T, dir: &Path) {
    for k in keys {
        if let Value::Set(set) = k.value
            && let Err(e) = set(target, k.default, dir)
        {
            panic!(
                "the default of {} ({:?}) is invalid: {e}",
                k.name, k.default
            );
        }
    }
}

/// Applies the entries of `text` to `target`. Returns the unsupported keys the file sets to
/// something, with their lines. `file` is named in errors; `dir` resolves relative paths.
pub fn apply<T>(
    keys: &[Key<T>],
    text: &str,
    file: &Path,
    dir: &Path,
    target: &mut T,
) -> Result<Vec<(usize, String)>, ConfigError> {
    let mut unsupported = Vec::new();
    let mut set_keys: Vec<&str> = Vec::new();
    for_each_entry(text, file, |line, name, value| {
        let Some(key) = keys.iter().find(|k| k.name == name) else {
            return Err(ConfigError::UnknownKey {
                path: file.to_path_buf(),
                line,
                key: name.into(),
            });
        };
        set_keys.push(key.name);
        match key.value {
            Value::Set(set) | Value::Required(set) => {
                set(target, value, dir).map_err(|reason| ConfigError::Value {
                    path: file.to_path_buf(),
                    line,
                    key: name.into(),
                    reason,
                })?;
            }
            Value::Unsupported { harmless } => {
                if !value.is_empty() && !harmless.contains(&value) {
                    unsupported.push((line, name.to_string()));
                }
            }
        }
        Ok(())
    })?;
    let missing = keys
        .iter()
        .find(|k| matches!(k.value, Value::Required(_)) && !set_keys.contains(&k.name));
    if let Some(k) = missing {
        return Err(ConfigError::Missing {
            path: file.to_path_buf(),
            key: k.name.into(),
        });
    }
    Ok(unsupported)
}

/// Appends every implemented key to `out`: its doc as comment lines, then `key = value`, or
/// `# key =` when the value is empty. `value` gives a key's value when it is not the default.
pub fn render<T>(out: &mut String, keys: &[Key<T>], value: impl Fn(&str) -> Option<String>) {
    for k in keys {
        if let Value::Unsupported { .. } = k.value {
            continue;
        }
        out.push('\n');
        for line in k.doc.lines() {
            let _ = writeln!(out, "# {line}");
        }
        let v = value(k.name).unwrap_or_else(|| k.default.to_string());
        let _ = if v.is_empty() {
            writeln!(out, "# {} =", k.name)
        } else {
            writeln!(out, "{} = {v}", k.name)
        };
    }
}

/// The names of the unsupported keys, in table order.
pub const fn unsupported_names<T, const N: usize>(keys: &[Key<T>]) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut n) = (0, 0);
    while i < keys.len() {
        if let Value::Unsupported { .. } = keys[i].value {
            out[n] = keys[i].name;
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "N is not the number of unsupported keys");
    out
}

/// How many keys are unsupported.
pub const fn count_unsupported<T>(keys: &[Key<T>]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < keys.len() {
        if let Value::Unsupported { .. } = keys[i].value {
            n += 1;
        }
        i += 1;
    }
    n
}
