//! One line of the report: its level, what it says, and how to fix it. A leaf: every part of
//! the report builds these.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Serialize)]
pub struct Line {
    pub level: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Line {
    pub fn ok(message: impl Into<String>) -> Line {
        Line {
            level: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }
    pub fn warning(message: impl Into<String>, fix: impl Into<String>) -> Line {
        Line {
            level: Level::Warning,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn problem(message: impl Into<String>, fix: impl Into<String>) -> Line {
        Line {
            level: Level::Problem,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A duration as the report shows it.
pub fn rounded(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
