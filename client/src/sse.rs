//! A reader of the node's server-sent event stream: `event:`, `id:` and `data:` lines, events separated by a
//! blank line. Each record event's data is a [`RecordView`].

use crate::{ClientError, Result};
use clearance_core::api::RecordView;
use futures::{Stream, StreamExt};

/// One item of the event stream.
#[derive(Debug, Clone)]
pub enum EventItem {
    Record(Box<RecordView>),
    /// The node dropped this many events because the reader fell behind.
    Lagged(u64),
}

/// Largest event the reader buffers; the node's events are far smaller.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

pub(crate) fn records<S, B>(url: String, bytes: S) -> impl Stream<Item = Result<EventItem>>
where
    S: Stream<Item = std::result::Result<B, reqwest::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    futures::stream::unfold(
        (bytes, String::new(), url),
        |(mut bytes, mut buffer, url)| async move {
            loop {
                if let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    match parse(&url, &block) {
                        Some(item) => return Some((item, (bytes, buffer, url))),
                        None => continue,
                    }
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => {
                        buffer.push_str(
                            &String::from_utf8_lossy(chunk.as_ref()).replace("\r\n", "\n"),
                        );
                        if buffer.len() > MAX_EVENT_BYTES {
                            let err = ClientError::Decode {
                                url: url.clone(),
                                detail: "an event exceeds 1 MiB".into(),
                            };
                            return Some((Err(err), (bytes, String::new(), url)));
                        }
                    }
                    Some(Err(source)) => {
                        let err = ClientError::Transport {
                            url: url.clone(),
                            source,
                        };
                        return Some((Err(err), (bytes, buffer, url)));
                    }
                    None => return None,
                }
            }
        },
    )
}

/// Parses one event block; comments and keep-alives give `None`.
fn parse(url: &str, block: &str) -> Option<Result<EventItem>> {
    let mut event = "message";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if data.is_empty() {
        return None;
    }
    if event == "lagged" {
        let missed = serde_json::from_str::<serde_json::Value>(&data)
            .ok()
            .and_then(|v| v["missed"].as_u64())
            .unwrap_or(0);
        return Some(Ok(EventItem::Lagged(missed)));
    }
    Some(
        serde_json::from_str::<RecordView>(&data)
            .map(|r| EventItem::Record(Box::new(r)))
            .map_err(|e| ClientError::Decode {
                url: url.to_string(),
                detail: format!("event {event}: {e}"),
            }),
    )
}
