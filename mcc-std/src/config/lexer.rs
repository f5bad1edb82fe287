//! The `key = value` line format shared by `mcc.conf` and the tunnel files. It is not TOML:
//! values are bare text (paths, lists, addresses), as in the user documentation.

use super::ConfigError;
use std::collections::HashMap;
use std::path::Path;

/// Splits `text` into `key = value` entries, refusing malformed lines and duplicate keys, and
/// hands each to `f` with its 1-based line number.
///
/// A line whose first non-blank character is `#` is a comment, and so is the rest of a value
/// from a `#` that starts it or follows a blank: `a = b # note` sets `a` to `b`. A `#` inside a
/// word stays (`a = x#y` is `x#y`), as a file name may have one; a value that needs ` #` cannot
/// be written (no documented key does: the shell-command keys are not implemented).
pub(super) fn for_each_entry(
    text: &str,
    file: &Path,
    mut f: impl FnMut(usize, &str, &str) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let syntax = || ConfigError::Syntax {
            path: file.to_path_buf(),
            line,
        };
        let (key, value) = trimmed.split_once('=').ok_or_else(syntax)?;
        let (key, value) = (key.trim(), strip_comment(value).trim());
        if key.is_empty() {
            return Err(syntax());
        }
        if let Some(&first) = seen.get(key) {
            return Err(ConfigError::Duplicate {
                path: file.to_path_buf(),
                line,
                key: key.into(),
                first,
            });
        }
        seen.insert(key, line);
        f(line, key, value)?;
    }
    Ok(())
}

/// `value` up to a `#` that starts it or follows a blank.
pub(super) fn strip_comment(value: &str) -> &str {
    let mut prev_blank = true;
    for (i, c) in value.char_indices() {
        if c == '#' && prev_blank {
            return &value[..i];
        }
        prev_blank = c.is_whitespace();
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<(usize, String, String)>, String> {
        let mut out = Vec::new();
        for_each_entry(text, Path::new("/f.conf"), |line, k, v| {
            out.push((line, k.to_string(), v.to_string()));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn trailing_comments_are_stripped() {
        let e = entries(
            "a = b # note\n\
             b = x#y\n\
             c =   # only a comment\n\
             d = p q\t# tab before\n\
             e = #\n\
             f = 1 # one # two\n\
             \u{20}  # indented comment line\n",
        )
        .unwrap();
        let want = [
            (1, "a", "b"),
            (2, "b", "x#y"),
            (3, "c", ""),
            (4, "d", "p q"),
            (5, "e", ""),
            (6, "f", "1"),
        ];
        assert_eq!(e.len(), want.len());
        for ((line, k, v), (wl, wk, wv)) in e.iter().zip(want) {
            assert_eq!((*line, k.as_str(), v.as_str()), (wl, wk, wv));
        }
    }

    #[test]
    fn malformed_lines_and_duplicates_name_file_and_line() {
        assert_eq!(
            entries("\nno equals sign").unwrap_err(),
            "/f.conf:2: expected `key = value`"
        );
        assert_eq!(
            entries("= v").unwrap_err(),
            "/f.conf:1: expected `key = value`"
        );
        assert_eq!(
            entries("a = 1\na = 2 # again").unwrap_err(),
            "/f.conf:2: a: duplicate key (first set on line 1)"
        );
        // A byte-order mark is not part of the first key.
        assert_eq!(entries("\u{feff}a = 1").unwrap()[0].1, "a");
    }
}
