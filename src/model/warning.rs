//! A warning the library hands to the CLI: about one image or about the
//! whole command. The CLI decides how to show many of them
//! (`cli::warnings` folds repeats); reports keep every one in full.

use super::ImageRecord;

/// One warning, about one image (`subject`) or about the whole command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub subject: Option<String>,
    pub message: String,
}

impl Warning {
    pub fn general(message: impl Into<String>) -> Self {
        Warning {
            subject: None,
            message: message.into(),
        }
    }

    /// The full text, as the JSON report lists it.
    pub fn text(&self) -> String {
        match &self.subject {
            Some(s) => format!("{s}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// One warning per image that carries no evidence.
pub fn no_evidence(images: &[ImageRecord]) -> Vec<Warning> {
    images
        .iter()
        .filter(|i| i.evidence.is_empty())
        .map(|i| Warning {
            subject: Some(format!("{} ({})", i.reference, i.platform_label())),
            message: "no signatures or other evidence found".into(),
        })
        .collect()
}
