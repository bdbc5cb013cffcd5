//! Wire transcripts kept as evidence for verdicts: bounded, timestamped, secrets redacted.

use serde::{Deserialize, Serialize};

/// Which way the bytes went, seen from impress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by impress.
    Out,
    /// Received from the server.
    In,
    /// A note by impress (TLS established, connection closed, ...).
    Note,
}

/// One frame of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// Milliseconds since the session started.
    pub t_ms: f64,
    /// Direction.
    pub dir: Direction,
    /// The bytes as text (lossy UTF-8, secrets redacted, truncated past a cap).
    pub text: String,
}

/// A bounded transcript: the first and the most recent frames are kept, the middle is
/// counted, so memory stays bounded on long sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Transcript {
    /// The frames kept, in order.
    pub lines: Vec<TranscriptLine>,
    /// Frames dropped from the middle to honour the cap.
    pub omitted: usize,
}

impl Transcript {
    /// Renders the transcript as plain text, one frame per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            if self.omitted > 0 && i == self.lines.len() / 2 {
                out.push_str(&format!("... {} frames omitted ...\n", self.omitted));
            }
            let arrow = match l.dir {
                Direction::Out => "C->S",
                Direction::In => "S->C",
                Direction::Note => "----",
            };
            out.push_str(&format!("[{:>10.3} ms] {arrow} {}\n", l.t_ms, l.text));
        }
        out
    }
}
