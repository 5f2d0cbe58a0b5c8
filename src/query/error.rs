//! The one error type of the display-filter language: what is wrong and
//! where, rendered with a caret under the offending characters as
//! `tshark -Y` does.

use std::fmt;
use std::ops::Range;

/// A display filter that does not parse or does not type-check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Byte range of the offending text in [`FilterError::expr`].
    pub span: Range<usize>,
    /// The expression as given.
    pub expr: String,
}

impl FilterError {
    pub(crate) fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        FilterError {
            message: message.into(),
            span,
            expr: String::new(),
        }
    }

    pub(crate) fn with_expr(mut self, expr: &str) -> Self {
        self.expr = expr.to_string();
        let end = self.span.end.min(expr.len());
        let start = self.span.start.min(end);
        self.span = start..end;
        self
    }

    /// The expression on one line and a caret line under the offending
    /// characters (`^~~~`), each indented by four spaces. Control
    /// characters are shown as spaces so that the caret stays aligned.
    pub fn caret(&self) -> String {
        let shown: String = self
            .expr
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let col = self
            .expr
            .get(..self.span.start)
            .map_or(0, |s| s.chars().count());
        let width = self
            .expr
            .get(self.span.clone())
            .map_or(1, |s| s.chars().count())
            .max(1);
        format!(
            "    {shown}\n    {}^{}",
            " ".repeat(col),
            "~".repeat(width - 1)
        )
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.message, self.caret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_span_in_characters() {
        let e = FilterError::new("no such field", 7..10).with_expr("é and foo == 1");
        assert_eq!(e.caret(), "    é and foo == 1\n          ^~~");
        let end = FilterError::new("unexpected end", 5..5).with_expr("a and");
        assert_eq!(end.caret(), "    a and\n         ^");
    }
}
