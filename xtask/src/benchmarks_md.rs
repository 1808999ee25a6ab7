//! BENCHMARKS.md is written by commands, never by hand: `bench edge` writes
//! the body, and other commands (`lighthouse`) each own a section between
//! `<!-- name:begin -->` and `<!-- name:end -->`, which survives the body
//! being written again.

use std::path::Path;

use anyhow::{Context as _, Result};

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    )
}

/// The sections in `text`, whole (markers included).
fn sections(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = text[at..].find("<!-- ").map(|i| at + i) {
        let Some(close) = text[start..].find(" -->").map(|i| start + i) else {
            break;
        };
        let Some(name) = text[start + 5..close].strip_suffix(":begin") else {
            at = close;
            continue;
        };
        let (_, end_marker) = markers(name);
        let Some(end) = text[close..].find(&end_marker).map(|i| close + i) else {
            break;
        };
        at = end + end_marker.len();
        found.push(&text[start..at]);
    }
    found
}

/// `body` as the new file, followed by the sections the old file had.
pub fn write_body(path: &Path, body: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = body.trim_end().to_owned();
    for section in sections(&old) {
        text.push_str("\n\n");
        text.push_str(section);
    }
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Replaces (or appends) the section `name` with `content`.
pub fn write_section(path: &Path, name: &str, content: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = markers(name);
    let section = format!("{begin}\n{}\n{end}", content.trim_end());
    let text = match (old.find(&begin), old.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &old[..a], &old[b + end.len()..]),
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_survives_the_body_and_is_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        write_body(&path, "# Bench\n\nfirst").unwrap();
        write_section(&path, "lighthouse", "scores 1").unwrap();
        write_body(&path, "# Bench\n\nsecond").unwrap();
        write_section(&path, "lighthouse", "scores 2").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Bench\n\nsecond"));
        assert_eq!(text.matches("lighthouse:begin").count(), 1);
        assert!(text.contains("scores 2") && !text.contains("scores 1"));
    }
}
