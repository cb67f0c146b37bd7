//! `GET /v1/events`: committed records as server-sent events, filtered by kind, member or operator.

use super::extract::ApiQuery;
use super::{ApiError, ApiState};
use crate::query::RecordView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use clearance_core::ids::{CountryCode, OperatorId};
use clearance_core::record::Record;
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    kind: Option<String>,
    member: Option<String>,
    operator: Option<String>,
}

struct Filter {
    kind: Option<String>,
    member: Option<CountryCode>,
    operator: Option<OperatorId>,
}

impl Filter {
    fn matches(&self, r: &RecordView) -> bool {
        self.kind.as_deref().is_none_or(|k| r.kind == k)
            && self.member.as_ref().is_none_or(|m| r.member == *m)
            && self
                .operator
                .as_ref()
                .is_none_or(|o| operators(&r.record).any(|x| x == o))
    }
}

/// The operators a record is about: an AEO status's operator, a certificate's exporter and importer.
fn operators(record: &Record) -> impl Iterator<Item = &OperatorId> {
    let (a, b) = match record {
        Record::AeoStatus(s) => (Some(&s.operator), None),
        Record::CertificateIssue(c) => (
            c.certificate.exporter.as_ref(),
            c.certificate.importer.as_ref(),
        ),
        Record::CertificateAmend(c) => (
            c.certificate.exporter.as_ref(),
            c.certificate.importer.as_ref(),
        ),
        _ => (None, None),
    };
    a.into_iter().chain(b)
}

pub async fn events(
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bad = |e: clearance_core::ids::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_IDENTIFIER", e)
    };
    let filter = Filter {
        kind: p.kind,
        member: p
            .member
            .map(|m| CountryCode::parse(&m))
            .transpose()
            .map_err(bad)?,
        operator: p
            .operator
            .map(|o| OperatorId::parse(&o))
            .transpose()
            .map_err(bad)?,
    };
    let receiver = s.events.subscribe();
    let stream = futures::stream::unfold((receiver, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(record) => {
                    if filter.matches(&record) {
                        let event = Event::default()
                            .event(record.kind.as_str())
                            .id(record.log_index.to_string())
                            .json_data(record.as_ref())
                            .unwrap_or_else(|_| Event::default().event("error"));
                        return Some((Ok(event), (rx, filter)));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // The client reads slower than the ledger commits: say so, and carry on.
                    let event = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}"));
                    return Some((Ok(event), (rx, filter)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Capacity of the event channel: how far a slow subscriber may fall behind before it is told it lagged.
pub const EVENT_BUFFER: usize = 16 * 1024;
