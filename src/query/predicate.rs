//! The one filter type every output uses (`report`, `export`, `stats`,
//! `payload`, `check`, `view`, `live`, the TUI), so that one expression
//! selects the same messages everywhere.

use super::json_filter;
use super::subject::{Item, Subject};
use super::{DisplayFilter, FilterError};
use crate::model::Analysis;

/// A compiled filter: a display filter, or an expression in the old
/// `--where` language (accepted by `--where` only, when it is not a
/// display filter).
#[derive(Debug, Clone)]
pub struct Predicate {
    lang: Lang,
}

#[derive(Debug, Clone)]
enum Lang {
    Display(DisplayFilter),
    Where(json_filter::Expr, bool),
}

/// What [`Predicate::apply`] kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    /// Data messages kept.
    pub messages: u64,
    /// Control frames kept.
    pub control: u64,
}

impl Predicate {
    /// A display filter (`-Y`).
    pub fn display(src: &str) -> Result<Self, FilterError> {
        Ok(Predicate {
            lang: Lang::Display(DisplayFilter::parse(src)?),
        })
    }

    /// `--where`: a display filter; failing that, an expression of the old
    /// `--where` language (its fields `dir`, `len`, `opcode`, `conn`,
    /// `index`, `complete`, `text` and truthiness of paths). The error is
    /// the display filter's when neither parses.
    pub fn display_or_where(src: &str) -> Result<Self, FilterError> {
        match DisplayFilter::parse(src) {
            Ok(d) => Ok(Predicate {
                lang: Lang::Display(d),
            }),
            Err(e) => match json_filter::Expr::parse(src) {
                Ok(old) => {
                    let json = old.uses_root("json");
                    Ok(Predicate {
                        lang: Lang::Where(old, json),
                    })
                }
                Err(_) => Err(e),
            },
        }
    }

    /// What `--where` takes: [`Predicate::display_or_where`].
    pub fn parse(src: &str) -> Result<Self, FilterError> {
        Self::display_or_where(src)
    }

    /// True when the expression was read in the old `--where` language.
    pub fn is_old_where(&self) -> bool {
        matches!(self.lang, Lang::Where(..))
    }

    /// The display filter, if it is one.
    pub fn display_filter(&self) -> Option<&DisplayFilter> {
        match &self.lang {
            Lang::Display(d) => Some(d),
            Lang::Where(..) => None,
        }
    }

    /// True if the filter selects `s`. The old `--where` language selects
    /// among data messages only: it lets every other item through.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        match &self.lang {
            Lang::Display(d) => d.matches(s),
            Lang::Where(e, json) => match s.item {
                Item::Message { index, msg } => e.matches(&crate::payload::message_context(
                    s.conn.id, index, msg, *json,
                )),
                _ => true,
            },
        }
    }

    /// Keeps only the selected messages and control frames in every
    /// connection of `a` (violations, anomalies, HTTP and TCP events stay;
    /// the counters still describe the whole capture).
    pub fn apply(&self, a: &mut Analysis) -> Kept {
        let start = Some(a.start_ts);
        let mut kept = Kept::default();
        for c in &mut a.connections {
            let keep_m: Vec<bool> = c
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| self.matches(&Subject::message(c, i, m, start)))
                .collect();
            let keep_c: Vec<bool> = c
                .control
                .iter()
                .map(|f| self.matches(&Subject::new(c, Item::Control(f), start)))
                .collect();
            // Application records go with the message they sit on (their
            // `index` stays the message's place in the whole connection).
            c.app_messages
                .retain(|r| usize::try_from(r.index).is_ok_and(|i| keep_m.get(i) == Some(&true)));
            let mut k = keep_m.into_iter();
            c.messages.retain(|_| k.next().unwrap_or(false));
            let mut k = keep_c.into_iter();
            c.control.retain(|_| k.next().unwrap_or(false));
            kept.messages += c.messages.len() as u64;
            kept.control += c.control.len() as u64;
        }
        kept
    }
}
