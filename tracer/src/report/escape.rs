//! One escaping layer per output format, for every string that came from the traced system
//! (process names, which a process sets itself; file paths; peer addresses) or from a user
//! (labels, pod names): such a string is shown, never interpreted.
//!
//! - [`terminal`]: control characters (ESC, CSI, OSC, newlines, bidi overrides) shown as
//!   `\x1b`, `\n`, `\u{202e}`, so nothing reaches the terminal raw.
//! - [`markdown`]: HTML-significant characters as entities, Markdown punctuation
//!   backslash-escaped, newlines and control characters shown as in [`terminal`], so a name
//!   stays inside its table cell or heading and renders as text.
//! - [`html`]: the HTML entities.
use std::{borrow::Cow, fmt::Write as _};

/// Characters a terminal would act on rather than show: C0 and C1 controls and DEL, and the
/// Unicode bidirectional overrides and isolates, which reorder what is shown around them.
fn is_unshowable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_visible(out: &mut String, c: char) {
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
        c => write!(out, "\\u{{{:x}}}", u32::from(c)),
    };
}

/// A string for the terminal: control characters shown escaped (`\x1b`), the rest as is.
#[must_use]
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unshowable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unshowable(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A string for Markdown text (a heading, a table cell, a list item): renders as itself.
#[must_use]
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Table cells, emphasis, code spans, links and images, headings, escapes.
            '|' | '*' | '_' | '`' | '[' | ']' | '#' | '\\' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if is_unshowable(c) => {
                // `\x1b` must show its backslash: escaped as a backslash of its own.
                out.push('\\');
                push_visible(&mut out, c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A string for HTML text or a quoted attribute.
#[must_use]
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_shows_control_characters_and_keeps_the_rest() {
        assert_eq!(terminal("fortio-7d9 µs"), "fortio-7d9 µs");
        assert_eq!(
            terminal("a\x1b]0;owned\x07b\nc\u{9b}\u{202e}"),
            "a\\x1b]0;owned\\x07b\\nc\\x9b\\u{202e}"
        );
    }

    #[test]
    fn markdown_keeps_names_inside_their_cell() {
        assert_eq!(markdown("no-mesh run 1"), "no-mesh run 1");
        assert_eq!(
            markdown("</td><script>|x\n# h"),
            "&lt;/td&gt;&lt;script&gt;\\|x\\\\n\\# h"
        );
        assert_eq!(markdown("[a](javascript:1)"), "\\[a\\](javascript:1)");
    }
}
