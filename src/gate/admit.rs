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
