//! The trust policy as unpack's [`Gate`]: the same checks `verify` runs,
//! over the images being unpacked, with rollback marks written only after
//! the target committed.

use std::cell::RefCell;

use super::{state::PendingMark, GateConfig, GateReport};
use super::{Gate, Plan};
use crate::archive::ReadOutcome;
use crate::error::Error;

pub struct PolicyGate {
    cfg: GateConfig,
    pending: RefCell<Vec<PendingMark>>,
    report: RefCell<Option<GateReport>>,
    /// The gate's warnings, for the caller to show (library code never prints).
    warnings: RefCell<Vec<String>>,
}

impl PolicyGate {
    pub fn new(cfg: GateConfig) -> Self {
        PolicyGate {
            cfg,
            pending: RefCell::new(Vec::new()),
            report: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
        }
    }

    /// The warnings of the last `admit` (also when it refused).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    /// The per-image verdicts of the last `admit`, for reports.
    pub fn take_report(&self) -> Option<GateReport> {
        self.report.borrow_mut().take()
    }
}

impl Gate for PolicyGate {
    fn admit(&self, outcome: &ReadOutcome, plan: &Plan) -> Result<(), Error> {
        check_renames(&self.cfg.policy, plan)?;
        let images: Vec<_> = plan.images.iter().map(|i| i.record.clone()).collect();
        let mut g = super::run(
            &images,
            &outcome.metadata,
            &outcome.manifest.evidence,
            &self.cfg,
        )?;
        self.warnings.borrow_mut().clone_from(&g.warnings);
        let err = g.take_error();
        *self.pending.borrow_mut() = std::mem::take(&mut g.pending);
        *self.report.borrow_mut() = Some(g);
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn committed(&self, _outcome: &ReadOutcome, _plan: &Plan) -> Result<(), Error> {
        super::state::commit(&self.pending.borrow())
    }

    fn describe(&self) -> String {
        match self.report.borrow().as_ref() {
            Some(g) => format!("signature policy; trust root: {}", g.trust_root.detail),
            None => "signature policy".into(),
        }
    }
}

/// With scoped rules, a name binds an image to its publisher's rule: an
/// image renamed by `--tag` must fall under the rule that admits it by its
/// packed name, or one publisher's image could be loaded under another's
/// name.
fn check_renames(rules: &super::GateRules, plan: &Plan) -> Result<(), Error> {
    if !rules.scoped {
        return Ok(());
    }
    for i in plan.images.iter().filter(|i| i.tag != i.record.reference) {
        let Ok(packed) = rules.rule_for(&i.record.reference) else {
            continue; // refused with its reason by the evaluation itself
        };
        let renamed = rules.rule_for(&i.tag).map(|r| r.name.as_str());
        if renamed.as_ref().ok() != Some(&packed.name.as_str()) {
            let under = match renamed {
                Ok(name) => format!("rule {name:?}"),
                Err(_) => "no rule".into(),
            };
            return Err(Error::ImageTrust {
                image: format!("{} ({})", i.record.reference, i.record.platform_label()),
                source: crate::trust::TrustError::NoMatchingRule(format!(
                    "--tag {} falls under {under}, not rule {:?}, which admits the image by its packed name",
                    i.tag, packed.name
                )),
            });
        }
    }
    Ok(())
}
