//! Rollback decisions (pure): older evidence refused unless forced.

use airlock::trust::{check_rollback, next_high_water, HighWater, RollbackDecision};

const MARK: HighWater = HighWater {
    log_index: 1000,
    integrated_time: 1_700_000_000,
};

#[test]
fn first_evidence_is_accepted() {
    assert_eq!(
        check_rollback(None, MARK, false),
        Ok(RollbackDecision::FirstSeen)
    );
}

#[test]
fn same_or_newer_evidence_is_accepted() {
    let newer = HighWater {
        log_index: 1001,
        integrated_time: 1_700_000_100,
    };
    assert_eq!(
        check_rollback(Some(MARK), MARK, false),
        Ok(RollbackDecision::NotOlder)
    );
    assert_eq!(
        check_rollback(Some(MARK), newer, false),
        Ok(RollbackDecision::NotOlder)
    );
}

#[test]
fn older_log_index_is_refused() {
    let older = HighWater {
        log_index: 999,
        integrated_time: 1_700_000_100,
    };
    let err = check_rollback(Some(MARK), older, false).unwrap_err();
    assert_eq!(err.previous, MARK);
    assert!(err.to_string().contains("--allow-downgrade"));
}

#[test]
fn older_integrated_time_is_refused() {
    let older = HighWater {
        log_index: 1001,
        integrated_time: 1_699_999_999,
    };
    assert!(check_rollback(Some(MARK), older, false).is_err());
}

#[test]
fn older_evidence_is_accepted_with_allow_downgrade_and_mark_kept() {
    let older = HighWater {
        log_index: 10,
        integrated_time: 1_600_000_000,
    };
    assert_eq!(
        check_rollback(Some(MARK), older, true),
        Ok(RollbackDecision::DowngradeForced { previous: MARK })
    );
    assert_eq!(next_high_water(Some(MARK), older), MARK);
}
