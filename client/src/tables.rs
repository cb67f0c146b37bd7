//! Tables of records for people: one line per record or per evidence record.

use clearance_core::Hash32;
use clearance_core::api::RecordView;
use clearance_core::equivocation::EquivocationStep;

pub fn short(h: &Hash32) -> String {
    h.to_hex()[..12].to_string()
}

pub fn record_line(r: &RecordView) -> String {
    format!(
        "{:>7} {:>8}  {:<24} {:<3} {}  {}",
        r.height,
        r.log_index,
        r.kind,
        r.member.as_str(),
        r.time,
        short(&r.id)
    )
}

pub fn records_table(records: &[RecordView]) {
    println!(
        "{:>7} {:>8}  {:<24} {:<3} {:<24}  ID",
        "HEIGHT", "LOG", "KIND", "BY", "TIME"
    );
    for r in records {
        println!("{}", record_line(r));
    }
}

/// One line per evidence record: the equivocating member, where, and the committed record.
pub fn evidence_table(records: &[RecordView]) {
    if records.is_empty() {
        println!("no evidence of equivocation on the ledger");
        return;
    }
    println!(
        "{:<8} {:>8} {:>5} {:<9} {:<8} {:>8}  record",
        "offender", "height", "round", "step", "reporter", "at"
    );
    for r in records {
        let clearance_core::record::Record::Evidence(e) = &r.record else {
            continue;
        };
        let Ok(offence) = e.equivocation.claimed() else {
            continue;
        };
        let step = match offence.step {
            EquivocationStep::Prevote => "prevote",
            EquivocationStep::Precommit => "precommit",
            EquivocationStep::Proposal => "proposal",
        };
        println!(
            "{:<8} {:>8} {:>5} {:<9} {:<8} {:>8}  {}",
            offence.validator.to_string(),
            offence.height,
            offence.round,
            step,
            e.reporter.to_string(),
            r.height,
            r.id
        );
    }
}
